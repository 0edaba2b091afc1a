import type { BacktestProgressData, RunChartPayload } from './protocol';

/** An entry or exit of a trade, where the price pane marks it. */
export interface TradeMark {
	time: number;
	price: number;
	kind: 'entry' | 'exit';
	side: 'long' | 'short';
	size: number;
	pnl: number | null;
	reason: string | null;
}

/**
 * What the run chart draws: columns sharing one x axis (milliseconds since the epoch, or bars
 * processed for a live run whose progress carries no bar time), price as candles when the run
 * has OHLC and as a line otherwise, equity, and drawdown (fractions <= 0).
 */
export interface RunChartModel {
	axis: 'time' | 'bars';
	x: number[];
	/** [open, close, low, high] per point, ECharts' candlestick order. */
	candles: [number, number, number, number][] | null;
	price: (number | null)[] | null;
	equity: number[];
	drawdown: number[];
	trades: TradeMark[];
	/** Every trade of the run; `trades` may hold only the largest of them. */
	tradesTotal: number;
	/** Still filling in from progress points. */
	live: boolean;
}

/** Live points kept at most; past this, pairs fold into their deeper-drawdown point. */
export const MAX_LIVE_POINTS = 2000;

/** ISO times as UTC milliseconds; pandas writes naive bar times without a zone, which mean UTC here. */
export function parseTime(iso: string): number {
	return Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`);
}

/** Drawdown from the running peak of a curve. */
function drawdownOf(equity: number[]): number[] {
	let peak = -Infinity;
	return equity.map((value) => {
		peak = Math.max(peak, value);
		return peak > 0 ? value / peak - 1 : 0;
	});
}

/** The server's reduced chart of a finished run (`backtest_complete.data.chart`). */
export function chartFromPayload(chart: RunChartPayload): RunChartModel {
	const { open, high, low, close } = chart;
	const hasOhlc = !!(open?.length && high?.length && low?.length && close?.length);
	const marks: TradeMark[] = [];
	for (const trade of chart.trades) {
		const side = trade.size < 0 ? 'short' : 'long';
		const common = { side, size: trade.size, pnl: trade.pnl, reason: trade.exit_reason ?? null } as const;
		marks.push({ ...common, kind: 'entry', time: parseTime(trade.entry_time), price: trade.entry_price });
		if (trade.exit_time && trade.exit_price != null) {
			marks.push({ ...common, kind: 'exit', time: parseTime(trade.exit_time), price: trade.exit_price });
		}
	}
	return {
		axis: 'time',
		x: chart.time.map(parseTime),
		candles: hasOhlc ? chart.time.map((_, i) => [open![i], close![i], low![i], high![i]]) : null,
		price: hasOhlc ? null : (close ?? null),
		equity: chart.equity,
		drawdown: chart.drawdown,
		trades: marks,
		tradesTotal: chart.trades_total,
		live: false
	};
}

/** A finished run from before the server sent `chart`: only its `equity_curve`. */
export function chartFromEquityCurve(curve: [string, number][]): RunChartModel {
	const equity = curve.map(([, value]) => value);
	return {
		axis: 'time',
		x: curve.map(([time]) => parseTime(time)),
		candles: null,
		price: null,
		equity,
		drawdown: drawdownOf(equity),
		trades: [],
		tradesTotal: 0,
		live: false
	};
}

/**
 * The chart of a run while it streams: one point per progress event (equity marked to market,
 * and the bar's time and close when the server sends them). Bounded: a long run's points fold
 * pairwise, each pair keeping its deeper drawdown, so the chart's deepest point stays the run's.
 */
export class LiveChart {
	private bars: number[] = [];
	/** Each point's bar time (NaN when the server did not say it). */
	private times: number[] = [];
	private price: (number | null)[] = [];
	private equity: number[] = [];
	private drawdown: number[] = [];
	private peak = -Infinity;
	private cached: RunChartModel | null = null;

	/** The run's start: its initial balance at its first bar. */
	constructor(initialBalance: number | null, firstBarTime: string | null) {
		if (initialBalance != null) this.push(0, firstBarTime ? parseTime(firstBarTime) : NaN, null, initialBalance);
	}

	add(progress: BacktestProgressData): void {
		if (progress.equity == null) return;
		const time = progress.time ? parseTime(progress.time) : NaN;
		this.push(progress.bars_processed, time, progress.price ?? null, progress.equity);
	}

	get length(): number {
		return this.bars.length;
	}

	model(): RunChartModel {
		// One axis for the whole run: bar times when every point has one, else bars processed.
		const timed = this.times.length > 0 && !this.times.some(Number.isNaN);
		this.cached ??= {
			axis: timed ? 'time' : 'bars',
			x: (timed ? this.times : this.bars).slice(),
			candles: null,
			price: this.price.some((p) => p !== null) ? this.price.slice() : null,
			equity: this.equity.slice(),
			drawdown: this.drawdown.slice(),
			trades: [],
			tradesTotal: 0,
			live: true
		};
		return this.cached;
	}

	private push(bars: number, time: number, price: number | null, equity: number): void {
		this.peak = Math.max(this.peak, equity);
		this.bars.push(bars);
		this.times.push(time);
		this.price.push(price);
		this.equity.push(equity);
		this.drawdown.push(this.peak > 0 ? equity / this.peak - 1 : 0);
		if (this.bars.length >= 2 * MAX_LIVE_POINTS) this.fold();
		this.cached = null;
	}

	/** Halve the points: each pair keeps its deeper drawdown; the newest point always stays. */
	private fold(): void {
		const last = this.bars.length - 1;
		const keep: number[] = [];
		for (let i = 0; i + 1 < last; i += 2) keep.push(this.drawdown[i + 1] < this.drawdown[i] ? i + 1 : i);
		keep.push(last);
		const pick = <T>(column: T[]) => keep.map((i) => column[i]);
		this.bars = pick(this.bars);
		this.times = pick(this.times);
		this.price = pick(this.price);
		this.equity = pick(this.equity);
		this.drawdown = pick(this.drawdown);
	}
}
