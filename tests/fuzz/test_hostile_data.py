"""Hostile data files: each is refused (400) or fails its run, with a message naming the problem."""

from __future__ import annotations

import os
import time

import pytest
from qm_servers import call

GOOD_ROWS = "".join(
    f"2024-01-{d:02d},{100 + d},{101 + d},{99 + d},{100.5 + d}\n" for d in range(1, 11)
)
HEADER = "time,open,high,low,close\n"
#: file name -> (content, words the run's backtest_error must contain)
BAD_CONTENTS = {
    "missing_columns.csv": ("time,open,close\n2024-01-01,1,2\n", ["missing column", "high", "low"]),
    "text_in_prices.csv": (HEADER + GOOD_ROWS + "2024-01-11,100,101,99,abc\n", ["close", "abc"]),
    "nan_prices.csv": (HEADER + GOOD_ROWS + "2024-01-11,100,101,99,\n", ["close", "missing"]),
    "unsorted.csv": (HEADER + GOOD_ROWS + "2024-01-05,100,101,99,100\n", ["unsorted"]),
    "duplicate.csv": (HEADER + "2024-01-01,1,2,0.5,1\n2024-01-01,1,2,0.5,1\n", ["duplicate"]),
    "header_only.csv": (HEADER, ["no rows"]),
    "empty.csv": ("", ["empty.csv"]),
    "bad_time.csv": (HEADER + "yesterday,1,2,0.5,1\n", ["timestamp", "yesterday"]),
    "not_parquet.parquet": ("this is not parquet", ["not_parquet.parquet", "cannot be read"]),
}
MAX_FILE = 50_000


@pytest.fixture(scope="module")
def server_flags():
    return (f"--QuantMindExtension.max_data_file_bytes={MAX_FILE}",)


@pytest.fixture(scope="module")
def data_root(server, tmp_path_factory):
    root = server.root_dir
    (root / "data").mkdir(exist_ok=True)
    for name, (content, _) in BAD_CONTENTS.items():
        (root / "data" / name).write_text(content)
    (root / "data" / "huge.csv").write_text(HEADER + GOOD_ROWS * (MAX_FILE // len(GOOD_ROWS) + 1))
    outside = tmp_path_factory.mktemp("outside") / "secret.csv"
    outside.write_text(HEADER + GOOD_ROWS)
    os.symlink(outside, root / "data" / "link.csv")
    os.symlink(outside.parent, root / "data" / "linkdir")
    return root, outside


def _run(server, path):
    return call(
        server, "POST", "api/v1/backtest/run", {"strategy": "buy_and_hold", "data": {"path": path}}
    )


def _wait(server, backtest_id):
    deadline = time.monotonic() + 120
    while True:
        run = server.get(f"api/v1/backtest/{backtest_id}")
        if run["status"] in ("completed", "failed", "cancelled"):
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.1)


@pytest.mark.parametrize("name", sorted(BAD_CONTENTS))
def test_bad_contents_fail_the_run_naming_the_problem(server, data_root, name):
    status, reply, _ = _run(server, f"data/{name}")
    assert status == 202, reply
    run = _wait(server, reply["backtest_id"])
    assert run["status"] == "failed"
    message = run["error"]["error"]
    assert run["error"]["error_type"] == "DataError", run["error"]
    for word in BAD_CONTENTS[name][1]:
        assert word in message, (word, message)
    events = server.get(f"api/v1/backtest/{reply['backtest_id']}/events")["events"]
    assert events[-1]["type"] == "backtest_error" and events[-1]["data"]["error"] == message


def test_a_file_over_the_size_limit_is_refused(server, data_root):
    status, reply, _ = _run(server, "data/huge.csv")
    assert status == 400
    assert reply["field"] == "data.path"
    assert "huge.csv" in reply["message"] and "max_data_file_bytes" in reply["message"]


@pytest.mark.parametrize(
    "path",
    [
        "../outside.csv",
        "data/../../secret.csv",
        "/etc/passwd.csv",
        "data/link.csv",
        "data/linkdir/secret.csv",
        "~/secret.csv",
    ],
)
def test_paths_leaving_root_dir_are_refused(server, data_root, path):
    _, outside = data_root
    status, reply, _ = _run(server, path)
    assert status == 400, reply
    assert reply["field"] == "data"
    assert "outside the server's root_dir" in reply["message"] and path in reply["message"]
    assert str(outside) not in reply["message"]  # where it points stays private


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"path": "data/missing.csv"}, ["does not exist"]),
        ({"path": "data/prices.txt"}, [".csv or .parquet"]),
        ({"path": ""}, ["non-empty"]),
        ({"path": 7}, ["data.path"]),
        ({"path": "a.csv", "sample": "gbm"}, ["exactly one"]),
        ({"sample": "gbm", "bars": 0}, ["data.bars"]),
        ({"sample": "gbm", "bars": 10, "freq": "-1min"}, ["data.freq"]),
        ({"sample": "gbm", "bars": 10, "evil": 1}, ["data.evil"]),
    ],
)
def test_bad_data_specs_are_refused_naming_the_field(server, data_root, data, words):
    status, reply, _ = call(
        server, "POST", "api/v1/backtest/run", {"strategy": "buy_and_hold", "data": data}
    )
    assert status == 400, reply
    for word in words:
        assert word in reply["message"], reply
