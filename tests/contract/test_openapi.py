"""The OpenAPI 3 document: valid, shipped, served, and what the live server really does.

schemathesis generates valid and invalid requests for every documented operation and checks
each response: no 5xx, a documented status code and content type, a body matching the schema,
and that the route refuses requests without credentials.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from importlib.resources import files

import pytest
import schemathesis
from hypothesis import HealthCheck, reject, settings
from openapi_schema_validator import OAS30Validator
from openapi_schema_validator import validate as validate_instance
from openapi_spec_validator import validate
from schemathesis import checks

SHIPPED = json.loads(files("qm_jupyter.server").joinpath("openapi.json").read_text())
ROUTES = {
    ("post", "/api/v1/backtest/run"),
    ("get", "/api/v1/backtest"),
    ("get", "/api/v1/backtest/openapi.json"),
    ("get", "/api/v1/backtest/{backtest_id}"),
    ("delete", "/api/v1/backtest/{backtest_id}"),
    ("post", "/api/v1/backtest/{backtest_id}/cancel"),
    ("get", "/api/v1/backtest/{backtest_id}/events"),
    ("post", "/api/v1/backtest/{backtest_id}/events"),
    ("get", "/api/v1/strategies"),
    ("post", "/api/v1/sweep/run"),
    ("get", "/api/v1/sweep"),
    ("get", "/api/v1/sweep/cluster"),
    ("get", "/api/v1/sweep/{sweep_id}"),
    ("delete", "/api/v1/sweep/{sweep_id}"),
    ("post", "/api/v1/sweep/{sweep_id}/cancel"),
    ("post", "/api/v1/sweep/{sweep_id}/events"),
}


def test_the_shipped_document_is_valid_openapi_3_and_lists_every_route():
    validate(SHIPPED)
    assert SHIPPED["openapi"].startswith("3.")
    documented = {(m, p) for p, ops in SHIPPED["paths"].items() for m in ops}
    assert documented == ROUTES
    error = SHIPPED["components"]["schemas"]["Error"]
    assert error["required"] == ["message"] and "field" in error["properties"]


def test_every_route_of_the_app_is_documented():
    from qm_jupyter.server.app import QuantMindExtension

    app = QuantMindExtension()
    app.handlers = []
    app.initialize_handlers()
    patterns = {pattern for pattern, *_ in app.handlers}
    api = {p for p in patterns if p.startswith("/api/")}
    assert len(api) == len({p for _, p in ROUTES})  # one route pattern per documented path


def test_the_document_is_served_with_this_servers_base_url(contract_server):
    served = contract_server.get("api/v1/backtest/openapi.json")
    assert served["servers"] == [{"url": contract_server.base_url.rstrip("/")}]
    assert {k: v for k, v in served.items() if k != "servers"} == {
        k: v for k, v in SHIPPED.items() if k != "servers"
    }


def test_a_real_run_matches_the_document(contract_server):
    """Responses of a complete run life cycle validate against the document's schemas."""
    schemas = SHIPPED["components"]["schemas"]
    resolver = {"components": {"schemas": schemas}}

    def check(body, name):
        validate_instance(
            body, {"$ref": f"#/components/schemas/{name}", **resolver}, cls=OAS30Validator
        )

    accepted = contract_server.post(
        "api/v1/backtest/run", {"strategy": "sma_crossover", "data": {"path": "data/prices.csv"}}
    )
    check(accepted, "RunAccepted")

    run = asyncio.run(contract_server.wait_until_done(accepted["backtest_id"]))
    assert run["status"] == "completed", run
    check(contract_server.get(f"api/v1/backtest/{run['backtest_id']}/events"), "EventPage")
    check(contract_server.get("api/v1/strategies"), "StrategyList")


def test_a_real_sweep_matches_the_document(contract_server):
    schemas = SHIPPED["components"]["schemas"]
    resolver = {"components": {"schemas": schemas}}

    def check(body, name):
        validate_instance(
            body, {"$ref": f"#/components/schemas/{name}", **resolver}, cls=OAS30Validator
        )

    request = {
        "strategy": "sma_crossover",
        "data": {"path": "data/prices.csv"},
        "grid": {"fast": [2, 3], "slow": {"start": 3, "stop": 5, "step": 1}},
        "maximize": "total_return",
    }
    check(request, "SweepRequest")
    accepted = contract_server.post("api/v1/sweep/run", request)
    check(accepted, "SweepAccepted")
    deadline = time.monotonic() + 120
    while (sweep := contract_server.get(f"api/v1/sweep/{accepted['sweep_id']}"))["status"] == (
        "running"
    ):
        assert time.monotonic() < deadline, sweep
        time.sleep(0.1)
    assert sweep["status"] == "completed" and sweep["counts"]["skipped"] == 1, sweep
    check(sweep, "Sweep")
    check(contract_server.get("api/v1/sweep"), "SweepList")
    (run_id, *_) = [t["backtest_id"] for t in sweep["trials"] if t["status"] == "completed"]
    trial = contract_server.get(f"api/v1/backtest/{run_id}")
    assert trial["sweep_id"] == sweep["sweep_id"]
    check(trial, "Run")
    trials = contract_server.get(f"api/v1/backtest?sweep_id={sweep['sweep_id']}")
    check(trials, "RunList")
    assert {run["sweep_id"] for run in trials["runs"]} == {sweep["sweep_id"]}
    check(contract_server.get("api/v1/sweep/cluster"), "SweepCluster")


@pytest.fixture(scope="module")
def api_schema(contract_server):
    return schemathesis.openapi.from_url(
        contract_server.url + "api/v1/backtest/openapi.json",
        headers={"Authorization": f"token {contract_server.token}"},
    )


schema = schemathesis.pytest.from_fixture("api_schema")
RUN_ID = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.ignored_auth,
]


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_live_api_conforms_to_its_document(case, contract_server):
    parameters = case.path_parameters or {}
    backtest_id = parameters.get("backtest_id", parameters.get("sweep_id"))
    # The document excludes these ids (`not: enum`): they name other routes. An id outside
    # the pattern matches no route of the extension, so Jupyter's own (HTML) 404 answers.
    if backtest_id is not None and (
        backtest_id in ("run", "openapi.json", "cluster")
        or not isinstance(backtest_id, str)
        or not RUN_ID.fullmatch(backtest_id)
    ):
        reject()
    case.call_and_validate(
        headers={"Authorization": f"token {contract_server.token}"}, checks=CHECKS
    )
