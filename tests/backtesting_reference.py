"""backtesting.py's equivalent of our built-in ``sma_crossover``: one definition for the
cross-check test (tests/engine/test_crosscheck_backtesting.py) and the benchmarks
(benchmarks/common.py, which puts tests/ on sys.path as it does for server_process).

backtesting.py is AGPL and test-only: qm_jupyter never imports it, nor this module.
"""

from __future__ import annotations

from backtesting import Strategy
from backtesting.test import SMA

# The Backtest settings that make a backtesting.py run comparable with ours: our default
# initial balance, next-open fills, one position at a time, and the position left open at the
# end closed (so that it counts as a trade, as ours does).
COMPARABLE = {
    "cash": 10_000,
    "trade_on_close": False,
    "exclusive_orders": True,
    "finalize_trades": True,
}


class LongOnlySmaCross(Strategy):
    """Long-only and all-in: buy when the fast SMA crosses above the slow one, close the
    position when it crosses below (our ``sma_crossover`` rule; ``Backtest.run(fast=..,
    slow=..)`` sets other windows)."""

    fast, slow = 10, 20

    def init(self):
        self.f = self.I(SMA, self.data.Close, self.fast)
        self.s = self.I(SMA, self.data.Close, self.slow)

    def next(self):
        f, s = self.f, self.s
        if f[-1] > s[-1] and f[-2] <= s[-2]:
            if not self.position:
                self.buy()
        elif f[-1] < s[-1] and f[-2] >= s[-2] and self.position:
            self.position.close()
