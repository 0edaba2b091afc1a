"""Stopping the extension undoes everything it started, like jupyter_server_terminals."""

from __future__ import annotations

import os

from qm_jupyter import sinks
from qm_jupyter.discovery import ENV_TOKEN, ENV_URL
from qm_jupyter.server.store import RunStore

SUB = {"type": "subscribe", "topic": "backtest"}


async def test_stop_extension_cleans_up_everything(jp_serverapp, stream, start_run, tmp_path):
    (extension,) = jp_serverapp.extension_manager.extension_apps["qm_jupyter"]
    await jp_serverapp.extension_manager.start_all_extensions()  # as the running server does
    assert os.environ[ENV_URL] == jp_serverapp.connection_url
    assert os.environ[ENV_TOKEN] == jp_serverapp.identity_provider.token
    assert sinks.default_sink() is not None
    watch = extension._kernel_watch
    client = await stream()
    await client.send(SUB)
    await client.receive()
    backtest_id = await start_run(
        strategy="sma_crossover_bars",
        data={"sample": "gbm", "bars": 300_000, "seed": 3, "freq": "1min"},
    )
    workers = [worker.process for worker in extension.service.runner._workers]
    assert workers

    await extension.stop_extension()

    while (message := await client.receive(timeout=10)) is not None:
        assert message["backtest_id"] == backtest_id  # its events, then the close
    assert client.connection.close_code == 1001
    assert "resume with since" in client.connection.close_reason
    assert ENV_URL not in os.environ and ENV_TOKEN not in os.environ
    assert watch.done() and extension._kernel_watch is None
    assert all(process.poll() is not None for process in workers)
    assert extension.service.hub.subscriber_count == 0
    store = RunStore(tmp_path / "runs.sqlite")  # the server's store is closed: read the file
    run = store.get_run(backtest_id)
    store.close()
    assert run.status == "failed" and run.error["error_type"] == "ServerStopped"
    await extension.stop_extension()  # again (the server's own cleanup does): nothing breaks
