import type { LogLine } from './log-filter';
import type {
	BacktestCancelledData,
	BacktestCompleteData,
	BacktestErrorData,
	BacktestEvent,
	BacktestProgressData,
	BacktestStartData,
	RunStatus,
	StoredRequest
} from './protocol';

/** A point of the equity chart: `x` is bars processed while the run is live, then
 * milliseconds since the first bar once `backtest_complete` brings the run's own curve. */
export interface EquityPoint {
	x: number;
	equity: number;
}

/**
 * What the page shows about one run, built only from that run's events, so a live run and a
 * replay of a stored one look the same. Log lines are kept in a plain append-only array (100,000
 * reactive proxies would be slow); `logCount` is the reactive signal that it grew.
 */
export class RunView {
	status = $state<RunStatus>('queued');
	start = $state.raw<BacktestStartData | null>(null);
	progress = $state.raw<BacktestProgressData | null>(null);
	result = $state.raw<BacktestCompleteData | null>(null);
	error = $state.raw<BacktestErrorData | null>(null);
	cancelled = $state.raw<BacktestCancelledData | null>(null);
	equity = $state.raw<EquityPoint[]>([]);
	/** Estimated seconds left, from the pace between the start and the latest progress event. */
	etaSeconds = $state<number | null>(null);
	logCount = $state(0);
	readonly logs: LogLine[] = [];
	private startedAtMs: number | null = null;

	constructor(
		readonly backtestId: string,
		status: RunStatus,
		/** What the run was asked to do, shown from the start (events come later for a replay). */
		readonly request: StoredRequest
	) {
		this.status = status;
	}

	get finished(): boolean {
		return this.status === 'completed' || this.status === 'failed' || this.status === 'cancelled';
	}

	apply(event: BacktestEvent): void {
		switch (event.type) {
			case 'backtest_start':
				this.status = 'running';
				this.start = event.data;
				this.startedAtMs = Date.parse(event.timestamp);
				if (event.data.initial_balance != null) {
					this.equity = [{ x: 0, equity: event.data.initial_balance }];
				}
				return;
			case 'backtest_progress':
				this.status = 'running';
				this.progress = event.data;
				if (event.data.equity != null) {
					this.equity = [...this.equity, { x: event.data.bars_processed, equity: event.data.equity }];
				}
				this.etaSeconds = this.estimateEta(event.data.progress, Date.parse(event.timestamp));
				return;
			case 'log_entry':
				this.logs.push({ seq: event.seq, ...event.data });
				this.logCount = this.logs.length;
				return;
			case 'backtest_complete':
				this.status = 'completed';
				this.result = event.data;
				this.etaSeconds = 0;
				if (event.data.equity_curve?.length) {
					const first = Date.parse(event.data.equity_curve[0][0]);
					this.equity = event.data.equity_curve.map(([time, equity]) => ({
						x: Date.parse(time) - first,
						equity
					}));
				}
				return;
			case 'backtest_error':
				this.status = 'failed';
				this.error = event.data;
				this.etaSeconds = null;
				return;
			case 'backtest_cancelled':
				this.status = 'cancelled';
				this.cancelled = event.data;
				this.etaSeconds = null;
				return;
		}
	}

	private estimateEta(progress: number, nowMs: number): number | null {
		if (this.startedAtMs === null || !(progress > 0) || Number.isNaN(nowMs)) return null;
		const elapsed = (nowMs - this.startedAtMs) / 1000;
		return (elapsed * (100 - progress)) / progress;
	}
}
