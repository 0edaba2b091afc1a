import { describe, expect, it } from 'vitest';
import type { RunChartModel, TradeMark } from '../run-chart-data';
import type { ChartColors } from './colors';
import { runChartOption } from './run-chart-option';

const COLORS: ChartColors = { text: '#000', muted: '#666', grid: '#ddd', primary: '#00f', gain: '#0a0', loss: '#a00', background: '#fff' };
const T0 = Date.parse('2026-01-01T00:00:00Z');
const MINUTE = 60_000;

const mark = (kind: TradeMark['kind'], side: TradeMark['side'], minute: number, price: number, pnl: number | null = null): TradeMark => ({
	time: T0 + minute * MINUTE,
	price,
	kind,
	side,
	size: side === 'long' ? 10 : -10,
	pnl,
	reason: kind === 'exit' ? 'signal' : null
});

const MODEL: RunChartModel = {
	axis: 'time',
	x: [T0, T0 + MINUTE, T0 + 2 * MINUTE],
	candles: [
		[100, 101, 99, 102],
		[101, 99, 98, 103],
		[99, 96, 95, 100]
	],
	price: null,
	equity: [10_000, 10_050, 9_900],
	drawdown: [0, -0.01, -0.0149],
	trades: [mark('entry', 'long', 0, 100), mark('exit', 'long', 1, 101, 10), mark('entry', 'short', 1, 99), mark('exit', 'short', 2, 96, -30)],
	tradesTotal: 2,
	live: false
};

type Series = { id: string; data: unknown[]; large?: boolean; symbolRotate?: number };
const option = runChartOption(MODEL, COLORS) as unknown as {
	series: Series[];
	tooltip: { formatter: (params: unknown) => string };
};
const series = (id: string) => option.series.find((s) => s.id === id)!;

describe('runChartOption', () => {
	it('draws each kind of trade mark as plain [time, price] rows, in one large path but the rotated ▼', () => {
		expect(option.series.map((s) => s.id)).toEqual(['price', 'long-entries', 'short-entries', 'winning-exits', 'losing-exits', 'equity', 'drawdown']);
		expect(series('long-entries')).toMatchObject({ large: true, data: [[T0, 100]] });
		expect(series('short-entries')).toMatchObject({ large: false, symbolRotate: 180, data: [[T0 + MINUTE, 99]] });
		expect(series('winning-exits').data).toEqual([[T0 + MINUTE, 101]]);
		expect(series('losing-exits').data).toEqual([[T0 + 2 * MINUTE, 96]]);
	});

	it("reads out the bar under the cursor and the trades its mark series' data indices point at", () => {
		const text = option.tooltip.formatter([
			{ seriesId: 'equity', dataIndex: 2 },
			{ seriesId: 'losing-exits', dataIndex: 0 },
			{ seriesId: 'long-entries', dataIndex: 0 }
		]);
		expect(text.split('<br>')).toEqual([
			'<b>2026-01-01 00:02:00 UTC</b>',
			expect.stringMatching(/^O .* · C /),
			expect.stringMatching(/^Equity /),
			expect.stringMatching(/^Drawdown /),
			expect.stringMatching(/^Short exit \(signal\) · 10 @ .* · P&L /),
			expect.stringMatching(/^Long entry · 10 @ /)
		]);
	});

	it('puts each pane exactly at its margins, without ECharts 6 laying the axes out again to fit', () => {
		const { grid } = runChartOption(MODEL, COLORS) as unknown as { grid: { outerBoundsMode: string; left: number }[] };
		expect(grid.map((g) => [g.outerBoundsMode, g.left])).toEqual([['none', 64], ['none', 64], ['none', 64]]);
	});

	it('draws no trade marks without a price pane', () => {
		const { series } = runChartOption({ ...MODEL, candles: null }, COLORS) as unknown as { series: Series[] };
		expect(series.map((s) => s.id)).toEqual(['equity', 'drawdown']);
	});
});
