import { afterEach, describe, expect, it, vi } from 'vitest';
import { COMPLETE_DATA, EventScript, START_DATA } from '../test-support/fixtures';
import type { BacktestProgressData, RunChartPayload } from './protocol';
import { LiveChart, MAX_LIVE_POINTS, chartFromEquityCurve, chartFromPayload, parseTime } from './run-chart-data';
import { RunView } from './run-view.svelte';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const MINUTE = 60_000;

function progress(bars: number, equity: number, extra: Partial<BacktestProgressData> = {}): BacktestProgressData {
	return { progress: bars / 10, bars_processed: bars, total_bars: 1000, trades_count: 0, pnl: equity - 10_000, equity, status: 'Processing...', ...extra };
}

const PAYLOAD: RunChartPayload = {
	time: ['2026-01-01T00:00:00', '2026-01-01T00:01:00', '2026-01-01T00:02:00'],
	open: [100, 101, 99],
	high: [102, 103, 100],
	low: [99, 98, 95],
	close: [101, 99, 96],
	equity: [10_000, 10_050, 9_900],
	drawdown: [0, -0.01, -0.0149],
	trades: [
		{ entry_time: '2026-01-01T00:00:00', exit_time: '2026-01-01T00:01:00', entry_price: 100, exit_price: 101, size: 10, pnl: 10, exit_reason: 'signal' },
		{ entry_time: '2026-01-01T00:01:00', exit_time: null, entry_price: 99, exit_price: null, size: -5, pnl: null, exit_reason: null }
	],
	trades_total: 40
};

describe('run chart data', () => {
	it('reads bar times without a zone as UTC', () => {
		expect(parseTime('2026-01-01T00:01:00')).toBe(T0 + MINUTE);
		expect(parseTime('2026-01-01T00:01:00Z')).toBe(T0 + MINUTE);
		expect(parseTime('2026-01-01T01:01:00+01:00')).toBe(T0 + MINUTE);
	});

	it('turns the final chart into candles, equity, drawdown and long/short entry and exit marks', () => {
		const model = chartFromPayload(PAYLOAD);
		expect(model).toMatchObject({ axis: 'time', x: [T0, T0 + MINUTE, T0 + 2 * MINUTE], price: null, live: false, tradesTotal: 40 });
		expect(model.candles).toEqual([
			[100, 101, 99, 102],
			[101, 99, 98, 103],
			[99, 96, 95, 100]
		]);
		expect(model.drawdown).toEqual(PAYLOAD.drawdown);
		expect(model.trades.map((m) => [m.kind, m.side, m.time, m.price])).toEqual([
			['entry', 'long', T0, 100],
			['exit', 'long', T0 + MINUTE, 101],
			['entry', 'short', T0 + MINUTE, 99] // still open: no exit mark
		]);
	});

	it('draws price as a line when the chart has closes but no OHLC', () => {
		const model = chartFromPayload({ ...PAYLOAD, open: null, high: null, low: null });
		expect(model.candles).toBeNull();
		expect(model.price).toEqual([101, 99, 96]);
	});

	it("falls back to an older run's equity_curve, with its drawdown from the running peak", () => {
		const model = chartFromEquityCurve([
			['2026-01-01T00:00:00Z', 100],
			['2026-01-01T00:01:00Z', 120],
			['2026-01-01T00:02:00Z', 90],
			['2026-01-01T00:03:00Z', 130]
		]);
		expect(model).toMatchObject({ axis: 'time', candles: null, price: null, trades: [], live: false });
		expect(model.equity).toEqual([100, 120, 90, 130]);
		expect(model.drawdown).toEqual([0, 0, -0.25, 0]);
	});

	it('fills in live on the bar times and closes of progress points', () => {
		const live = new LiveChart(10_000, '2026-01-01T00:00:00Z');
		live.add(progress(100, 10_200, { time: '2026-01-01T01:40:00', price: 101 }));
		live.add(progress(200, 9_690, { time: '2026-01-01T03:20:00', price: 98 }));
		const model = live.model();
		expect(model).toMatchObject({ axis: 'time', live: true, equity: [10_000, 10_200, 9_690] });
		expect(model.x).toEqual([T0, T0 + 100 * MINUTE, T0 + 200 * MINUTE]);
		expect(model.price).toEqual([null, 101, 98]);
		expect(model.drawdown[2]).toBeCloseTo(-0.05);
		expect(live.model()).toBe(model); // no new point: the same model, nothing redraws
	});

	it('counts bars on the axis when progress points carry no time (older servers)', () => {
		const live = new LiveChart(10_000, '2026-01-01T00:00:00Z');
		live.add(progress(250, 10_100));
		expect(live.model()).toMatchObject({ axis: 'bars', x: [0, 250], price: null });
	});

	it('stays bounded on a long run and keeps its deepest drawdown and newest point', () => {
		const live = new LiveChart(10_000, null);
		const total = 10 * MAX_LIVE_POINTS;
		for (let bar = 1; bar <= total; bar++) {
			const equity = bar === 12_345 ? 7_000 : 10_000 + Math.sin(bar / 50) * 500;
			live.add(progress(bar, equity));
		}
		const model = live.model();
		expect(model.x.length).toBeLessThan(2 * MAX_LIVE_POINTS);
		expect(Math.min(...model.drawdown)).toBeCloseTo(7_000 / 10_500 - 1, 3);
		expect(model.x.at(-1)).toBe(total);
	});
});

describe('RunView chart and log', () => {
	afterEach(() => vi.useRealTimers());

	it('shows live progress points, then the final chart from backtest_complete', () => {
		const script = new EventScript('r');
		const view = new RunView('r', 'running', {});
		view.apply(script.start());
		view.apply(script.progress(50, { pnl: 300 }));
		expect(view.chart).toMatchObject({ live: true, equity: [10_000, 10_300] });
		const revision = view.chartRevision;
		view.apply(script.next('backtest_complete', { ...COMPLETE_DATA, chart: PAYLOAD }));
		expect(view.chartRevision).toBeGreaterThan(revision);
		expect(view.chart).toMatchObject({ live: false, equity: PAYLOAD.equity, tradesTotal: 40 });
	});

	it("draws an older run's equity_curve when backtest_complete has no chart", () => {
		const script = new EventScript('r');
		const view = new RunView('r', 'running', {});
		view.apply(script.start());
		const equity_curve: [string, number][] = [
			[START_DATA.first_bar_time!, 10_000],
			[START_DATA.last_bar_time!, 10_523.4]
		];
		view.apply(script.next('backtest_complete', { ...COMPLETE_DATA, equity_curve }));
		expect(view.chart).toMatchObject({ live: false, equity: [10_000, 10_523.4], drawdown: [0, 0] });
	});

	it('shows a log line together with the progress point that counts it', () => {
		vi.useFakeTimers();
		const script = new EventScript('r');
		const view = new RunView('r', 'running', {});
		view.apply(script.start());
		view.apply(script.log('loading data'));
		expect(view.logs.map((l) => l.message)).toEqual(['loading data']);
		view.apply(script.progress(10, { trades_count: 0 }));
		view.apply(script.log('trade 1'));
		expect(view.logCount).toBe(1); // ahead of "0 trades": held
		view.apply(script.progress(20, { trades_count: 1 }));
		expect(view.logs.map((l) => l.message)).toEqual(['loading data', 'trade 1']);
		view.apply(script.log('trade 2'));
		view.apply(script.complete());
		expect(view.logCount).toBe(3); // the end shows whatever is held
		view.dispose();
	});
});
