"""What the sweep tests share: start a sweep, read its stream, compare with single runs."""

from __future__ import annotations

from typing import Any

from qm_jupyter.sweep_spec import scalar_metrics

SWEEP_TERMINAL = {"sweep_complete", "sweep_error", "sweep_cancelled"}


async def start_sweep(api, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    status, reply = await api("POST", "api", "v1", "sweep", "run", body=body)
    assert status == 202, reply
    return reply["sweep_id"], reply


async def read_sweep(client, sweep_id: str, since: int = 0, timeout: float = 90):
    """Subscribe to a sweep's stream and read it to its terminal event."""
    await client.send({"type": "subscribe", "topic": "sweep", "sweep_id": sweep_id, "since": since})
    reply = await client.receive()
    assert reply == {"type": "subscribed", "topic": "sweep", "sweep_id": sweep_id, "since": since}
    events = []
    while True:
        event = await client.receive(timeout)
        events.append(event)
        if event["type"] in SWEEP_TERMINAL:
            return events


async def metrics_of_single_run(start_run, wait_until_done, **body: Any) -> dict[str, Any]:
    """The metrics of one ordinary run, as a trial's are shown (no curve)."""
    run = await wait_until_done(await start_run(**body))
    assert run["status"] == "completed", run
    return scalar_metrics(run["result"])


def without_duration(metrics: dict[str, Any]) -> dict[str, Any]:
    """Metrics but the run's wall time, the one that differs between equal runs."""
    return {k: v for k, v in metrics.items() if k != "duration"}
