/** Protocol data shared by the Node and component tests (no Node-only imports here). */
import type {
	SweepEvent,
	SweepTrialData,
	BacktestCompleteData,
	BacktestEvent,
	BacktestEventType,
	BacktestStartData,
	LogLevel,
	StatValue,
	StrategySpec
} from '../lib/protocol';

export const STRATEGIES: StrategySpec[] = [
	{
		name: 'buy_and_hold',
		description: 'Buy on the first bar, hold to the end.',
		params: {}
	},
	{
		name: 'sma_crossover',
		description: 'Long when the fast SMA crosses above the slow one.',
		params: {
			fast: { type: 'int', default: 10, min: 2, max: 10000 },
			slow: { type: 'int', default: 30, min: 3, max: 10000 }
		}
	}
];

export const START_DATA: BacktestStartData = {
	strategy: 'sma_crossover',
	params: { fast: 10, slow: 30 },
	data: { sample: 'gbm', bars: 1000, seed: 42, freq: '1min' },
	initial_balance: 10_000,
	commission: 0,
	total_bars: 1000,
	first_bar_time: '2026-01-01T00:00:00Z',
	last_bar_time: '2026-01-01T16:39:00Z'
};

export const COMPLETE_DATA: BacktestCompleteData = {
	final_balance: 10_523.4,
	total_return: 0.05234,
	total_trades: 7,
	win_rate: 4 / 7,
	sharpe_ratio: 1.234,
	max_drawdown: -0.0321,
	bars: 1000,
	duration: 1.5
};

/** A run's `stats` as the server sends them (sma_crossover 10/30 on this sample, a few nulls). */
export const STATS: Record<string, StatValue> = {
	start: '2026-01-01T00:00:00+00:00',
	end: '2026-01-01T16:39:00+00:00',
	duration: 59_940,
	exposure_time_pct: 50,
	equity_final: 10_523.4,
	equity_peak: 10_644.17,
	commissions: 0,
	return_pct: 5.234,
	buy_hold_return_pct: -1.1108,
	return_ann_pct: null,
	sharpe_ratio: 1.234,
	sortino_ratio: 2.5,
	calmar_ratio: null,
	max_drawdown_pct: -3.21,
	max_drawdown_duration: 55_920,
	avg_drawdown_duration: 14_370,
	trades: 7,
	win_rate_pct: 57.142857,
	max_trade_duration: 3240,
	avg_trade_duration: 1578.947,
	profit_factor: 1.72465,
	sqn: 0.5278,
	kelly_criterion: -0.17998,
	max_consecutive_wins: 2,
	long_trades: 7,
	short_trades: 0,
	short_win_rate_pct: null,
	long_pnl: 523.4,
	periods_per_year: 252_000
};

/** Builds one run's events with contiguous seqs and timestamps one second apart. */
export class EventScript {
	private seq = 0;

	constructor(
		readonly backtestId: string,
		private readonly t0 = Date.parse('2026-01-01T00:00:00Z')
	) {}

	next<T extends BacktestEventType>(type: T, data: Extract<BacktestEvent, { type: T }>['data']): BacktestEvent {
		this.seq += 1;
		return {
			type,
			topic: 'backtest',
			backtest_id: this.backtestId,
			seq: this.seq,
			timestamp: new Date(this.t0 + this.seq * 1000).toISOString(),
			data
		} as BacktestEvent;
	}

	start(): BacktestEvent {
		return this.next('backtest_start', START_DATA);
	}

	progress(percent: number, extra: { trades_count?: number; pnl?: number } = {}): BacktestEvent {
		const bars = Math.round((percent / 100) * START_DATA.total_bars);
		const pnl = extra.pnl ?? 0;
		return this.next('backtest_progress', {
			progress: percent,
			bars_processed: bars,
			total_bars: START_DATA.total_bars,
			trades_count: extra.trades_count ?? 0,
			pnl,
			equity: START_DATA.initial_balance + pnl,
			status: 'Processing...'
		});
	}

	log(message: string, level: LogLevel = 'INFO'): BacktestEvent {
		return this.next('log_entry', {
			level,
			message,
			module: 'qm.strategy',
			timestamp: new Date(this.t0).toISOString()
		});
	}

	complete(): BacktestEvent {
		return this.next('backtest_complete', { ...COMPLETE_DATA, stats: STATS });
	}
}

/** Builds one sweep's events (fast x slow of sma_crossover) with contiguous seqs. */
export class SweepScript {
	private seq = 0;

	constructor(
		readonly sweepId: string,
		readonly grid: Record<string, number[]> = { fast: [5, 10, 15], slow: [20, 40] }
	) {}

	next<T extends SweepEvent['type']>(type: T, data: Extract<SweepEvent, { type: T }>['data']): SweepEvent {
		this.seq += 1;
		return { type, topic: 'sweep', sweep_id: this.sweepId, seq: this.seq, timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, this.seq)).toISOString(), data } as SweepEvent;
	}

	start(): SweepEvent {
		const total = Object.values(this.grid).reduce((n, values) => n * values.length, 1);
		return this.next('sweep_start', {
			strategy: 'sma_crossover',
			method: 'grid',
			total_trials: total,
			grid: this.grid,
			params: {},
			objective: { metric: 'sharpe_ratio', direction: 'maximize' },
			seed: 1,
			data: START_DATA.data
		});
	}

	trial(params: Record<string, number>, sharpe: number | null, status: SweepTrialData['status'] = 'completed'): SweepEvent {
		const done = status === 'completed';
		return this.next('sweep_trial', {
			backtest_id: status === 'skipped' ? null : `trial-${Object.values(params).join('-')}`,
			params,
			status,
			metrics: done ? { ...COMPLETE_DATA, sharpe_ratio: sharpe } : null,
			objective: done ? sharpe : null,
			error: status === 'completed' ? null : 'refused',
			worker: 'tcp://127.0.0.1:1',
			attempt: 1
		});
	}
}
