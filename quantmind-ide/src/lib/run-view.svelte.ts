import { LogHold } from './log-hold';
import type { LogLine } from './log-filter';
import { chartFromEquityCurve, chartFromPayload, LiveChart, type RunChartModel } from './run-chart-data';
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

/** The ETA shows once the pace is measured over this long and the run is this far (the notebook's rule). */
const ETA_MIN_MS = 2000;
const ETA_MIN_PERCENT = 1;

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
	/** Bumped when the chart changed; `chart` builds the model only when read. */
	chartRevision = $state(0);
	/** Estimated seconds left, from the pace since the first progress point. */
	etaSeconds = $state<number | null>(null);
	logCount = $state(0);
	readonly logs: LogLine[] = [];
	private firstProgress: { percent: number; ms: number } | null = null;
	private live = new LiveChart(null, null);
	private final: RunChartModel | null = null;
	private readonly hold = new LogHold<LogLine>((lines) => {
		for (const line of lines) this.logs.push(line); // no spread: a long hold may be more lines than a call takes arguments
		this.logCount = this.logs.length;
	});

	constructor(
		readonly backtestId: string,
		status: RunStatus,
		/** What the run was asked to do, shown from the start (events come later for a replay). */
		readonly request: StoredRequest,
		/** The sweep this run is a trial of. */
		readonly sweepId: string | null = null
	) {
		this.status = status;
	}

	/** The run's chart: the server's final one, else the live points so far. */
	get chart(): RunChartModel {
		return this.final ?? this.live.model();
	}

	/** Stop the log hold's timer of a view no longer shown. */
	dispose(): void {
		this.hold.dispose();
	}

	get finished(): boolean {
		return this.status === 'completed' || this.status === 'failed' || this.status === 'cancelled';
	}

	apply(event: BacktestEvent): void {
		switch (event.type) {
			case 'backtest_start':
				this.status = 'running';
				this.start = event.data;
				this.live = new LiveChart(event.data.initial_balance, event.data.first_bar_time);
				this.chartRevision += 1;
				return;
			case 'backtest_progress':
				this.status = 'running';
				this.progress = event.data;
				this.live.add(event.data);
				this.chartRevision += 1;
				this.etaSeconds = this.estimateEta(event.data.progress, Date.parse(event.timestamp));
				this.hold.progress();
				return;
			case 'log_entry':
				this.hold.line({ seq: event.seq, ...event.data });
				return;
			case 'backtest_complete':
				this.status = 'completed';
				this.result = event.data;
				this.etaSeconds = 0;
				if (event.data.chart?.time.length) this.final = chartFromPayload(event.data.chart);
				else if (event.data.equity_curve?.length) this.final = chartFromEquityCurve(event.data.equity_curve);
				this.chartRevision += 1;
				this.hold.progress();
				return;
			case 'backtest_error':
				this.status = 'failed';
				this.error = event.data;
				this.etaSeconds = null;
				this.hold.progress();
				return;
			case 'backtest_cancelled':
				this.status = 'cancelled';
				this.cancelled = event.data;
				this.etaSeconds = null;
				this.hold.progress();
				return;
		}
	}

	private estimateEta(percent: number, nowMs: number): number | null {
		if (Number.isNaN(nowMs)) return null;
		this.firstProgress ??= { percent, ms: nowMs };
		const elapsed = nowMs - this.firstProgress.ms;
		const gained = percent - this.firstProgress.percent;
		if (elapsed < ETA_MIN_MS || percent < ETA_MIN_PERCENT || !(gained > 0)) return null;
		return ((elapsed / 1000) * (100 - percent)) / gained;
	}
}
