"""The one job shape (server, workers, kernels) and the one shape of a failed run's end."""

from __future__ import annotations

import pickle

from qm_jupyter.events import BACKTEST_ERROR, TERMINAL_STATUS, backtest_error
from qm_jupyter.jobs import Job


def test_a_job_crosses_the_pipe_to_a_worker_whole():
    job = Job(
        backtest_id="b1",
        strategy="sma_crossover",
        params={"fast": 5, "slow": 20},
        data={"sample": "gbm", "bars": 100, "seed": 1, "freq": "1min"},
        initial_balance=10_000.0,
        commission=0.0,
        periods_per_year=None,
        progress_every=100,
        max_progress_rate=20.0,
        root_dir="/srv/notebooks",
        strategies_dir="/srv/notebooks/strategies",
    )
    assert pickle.loads(pickle.dumps(job)) == job


def test_every_failed_run_ends_with_the_same_fields():
    draft = backtest_error("the worker died", "WorkerDied")
    assert draft.type == BACKTEST_ERROR and TERMINAL_STATUS[draft.type] == "failed"
    assert draft.data == {"error": "the worker died", "error_type": "WorkerDied", "traceback": None}
    assert backtest_error("x", "ValueError", "Traceback ...").data["traceback"] == "Traceback ..."
