import { formatMoney, formatPercent, formatSignedMoney } from '../format';
import type { RunChartModel, TradeMark } from '../run-chart-data';
import type { ChartColors } from './colors';
import type { ChartOption } from './echarts';
import { FIXED_GRID } from './fixed-grid';

/** Panes on one time axis, in pixels: price (when the run has one), equity, drawdown. */
const LEFT = 64;
const RIGHT = 16;
const LAYOUTS = {
	price: { price: { top: 30, height: 190 }, equity: { top: 250, height: 96 }, drawdown: { top: 372, height: 56 } },
	noPrice: { equity: { top: 30, height: 230 }, drawdown: { top: 290, height: 138 } }
} as const;
export const RUN_CHART_HEIGHT = 470;
type Pane = 'price' | 'equity' | 'drawdown';

/** Whether the model has a price to draw (a pane of its own). */
export const hasPrice = (model: RunChartModel) => model.candles !== null || model.price !== null;

const utcTime = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

/** The x of a point as the read-out says it. */
export function formatX(model: RunChartModel, x: number): string {
	return model.axis === 'time' ? `${utcTime(x)} UTC` : `bar ${x.toLocaleString('en-US')}`;
}

/** The trade-mark series: which marks each draws, and how. */
const MARK_SERIES = [
	{ id: 'long-entries', name: 'Long entry', symbol: 'triangle', rotate: 0, gain: true, pick: (m: TradeMark) => m.kind === 'entry' && m.side === 'long' },
	{ id: 'short-entries', name: 'Short entry', symbol: 'triangle', rotate: 180, gain: false, pick: (m: TradeMark) => m.kind === 'entry' && m.side === 'short' },
	// An exit's colour is its trade's result (a series each: no per-item styles to draw).
	{ id: 'winning-exits', name: 'Winning exit', symbol: 'diamond', rotate: 0, gain: true, pick: (m: TradeMark) => m.kind === 'exit' && (m.pnl ?? 0) >= 0 },
	{ id: 'losing-exits', name: 'Losing exit', symbol: 'diamond', rotate: 0, gain: false, pick: (m: TradeMark) => m.kind === 'exit' && (m.pnl ?? 0) < 0 }
] as const;

/** Each trade-mark series' marks, by series id, in the order drawn (a data index is an index here). */
type MarksBySeries = Record<string, TradeMark[]>;

function tradeLine(mark: TradeMark): string {
	const side = mark.side === 'long' ? 'Long' : 'Short';
	const what = mark.kind === 'entry' ? `${side} entry` : `${side} exit${mark.reason ? ` (${mark.reason})` : ''}`;
	const pnl = mark.kind === 'exit' ? ` · P&L ${formatSignedMoney(mark.pnl)}` : '';
	return `${what} · ${Math.abs(mark.size).toLocaleString('en-US')} @ ${formatMoney(mark.price)}${pnl}`;
}

interface TooltipParam {
	seriesId?: string;
	dataIndex: number;
}

/** The hover read-out: the bar's time, price (OHLC or close), equity and drawdown, and any trade under the cursor. */
function readOut(model: RunChartModel, marks: MarksBySeries, params: TooltipParam[]): string {
	const point = params.find((p) => p.seriesId === 'equity' || p.seriesId === 'drawdown' || p.seriesId === 'price');
	const lines: string[] = [];
	if (point) {
		const i = point.dataIndex;
		lines.push(`<b>${formatX(model, model.x[i])}</b>`);
		const candle = model.candles?.[i];
		if (candle) {
			const [open, close, low, high] = candle;
			lines.push(`O ${formatMoney(open)} · H ${formatMoney(high)} · L ${formatMoney(low)} · C ${formatMoney(close)}`);
		} else if (model.price?.[i] != null) {
			lines.push(`Price ${formatMoney(model.price[i])}`);
		}
		lines.push(`Equity ${formatMoney(model.equity[i])}`, `Drawdown ${formatPercent(model.drawdown[i])}`);
	}
	for (const p of params) {
		const mark = p.seriesId === undefined ? undefined : marks[p.seriesId]?.[p.dataIndex];
		if (mark) lines.push(tradeLine(mark));
	}
	return lines.join('<br>');
}

/** The ECharts option of a run's chart: price with trades, equity, drawdown; zoom, pan and hover. */
export function runChartOption(model: RunChartModel, colors: ChartColors): ChartOption {
	const axisLine = { lineStyle: { color: colors.grid } };
	const splitLine = { lineStyle: { color: colors.grid, type: 'dashed' as const } };
	const label = { color: colors.muted, fontSize: 11 };
	const layout: Partial<Record<Pane, { top: number; height: number }>> = hasPrice(model) ? LAYOUTS.price : LAYOUTS.noPrice;
	const panes = Object.keys(layout) as Pane[];
	const at = (pane: Pane) => panes.indexOf(pane);
	const axes = panes.map((_, index) => index);
	const last = panes.length - 1;
	const xAxis = axes.map((index) => ({
		type: model.axis === 'time' ? ('time' as const) : ('value' as const),
		gridIndex: index,
		min: 'dataMin' as const,
		max: 'dataMax' as const,
		axisLine,
		axisLabel: { ...label, show: index === last },
		axisTick: { show: index === last },
		splitLine: { show: false }
	}));
	const yAxes = {
		price: { name: 'Price', scale: true, splitNumber: 4 },
		equity: { name: 'Equity', scale: true, splitNumber: 2 },
		drawdown: { name: 'Drawdown', max: 0, splitNumber: 2, axisLabel: { ...label, formatter: (v: number) => `${Math.round(v * 100)}%` } }
	};
	const yAxis = panes.map((pane, index) => ({
		type: 'value' as const,
		gridIndex: index,
		nameTextStyle: { ...label, align: 'left' as const, padding: [0, 0, 0, -LEFT + 6] },
		axisLabel: label,
		splitLine,
		...yAxes[pane]
	}));
	const x = model.x;
	const price =
		model.candles !== null
			? {
					id: 'price',
					name: 'Price',
					type: 'candlestick' as const,
					// One path per colour instead of a shape per candle.
					large: true,
					largeThreshold: 300,
					data: model.candles.map((candle, i) => [x[i], ...candle]),
					itemStyle: { color: colors.gain, color0: colors.loss, borderColor: colors.gain, borderColor0: colors.loss }
				}
			: {
					id: 'price',
					name: 'Price',
					type: 'line' as const,
					data: (model.price ?? []).map((p, i) => [x[i], p]),
					showSymbol: false,
					lineStyle: { width: 1.2, color: colors.text },
					itemStyle: { color: colors.text }
				};
	const marks: MarksBySeries = Object.fromEntries(MARK_SERIES.map((series) => [series.id, model.trades.filter(series.pick)]));
	const markSeries = MARK_SERIES.map((series) => ({
		id: series.id,
		name: series.name,
		type: 'scatter' as const,
		symbol: series.symbol,
		symbolRotate: series.rotate,
		symbolSize: 9,
		// Plain rows drawn as one path per series: a shape each (and an object per item) made the
		// thousand marks of a finished run the slowest part of drawing it. ECharts 6.1's large mode
		// rotates no symbol (and a path:// one takes it seconds), so ▼ is drawn a shape each; nor
		// can it paint an empty series.
		large: series.rotate === 0,
		largeThreshold: 1,
		itemStyle: { color: series.gain ? colors.gain : colors.loss },
		data: marks[series.id].map((mark) => [mark.time, mark.price]),
		z: 5
	}));
	return {
		animation: false,
		useUTC: true,
		textStyle: { fontFamily: 'inherit' },
		grid: panes.map((pane) => ({ ...FIXED_GRID, left: LEFT, right: RIGHT, ...layout[pane] })),
		legend: {
			show: hasPrice(model),
			top: 0,
			right: RIGHT,
			itemWidth: 12,
			itemHeight: 8,
			textStyle: label,
			data: ['Long entry', 'Short entry', 'Winning exit', 'Losing exit']
		},
		xAxis,
		yAxis,
		axisPointer: { link: [{ xAxisIndex: 'all' }], label: { backgroundColor: colors.muted } },
		tooltip: {
			trigger: 'axis',
			axisPointer: { type: 'cross' },
			backgroundColor: colors.background,
			borderColor: colors.grid,
			textStyle: { color: colors.text, fontSize: 12 },
			formatter: (params: unknown) => readOut(model, marks, params as TooltipParam[])
		},
		dataZoom: [
			{ type: 'inside', xAxisIndex: axes },
			{ type: 'slider', xAxisIndex: axes, bottom: 6, height: 18, left: LEFT, right: RIGHT, showDetail: false, borderColor: colors.grid }
		],
		series: [
			...(hasPrice(model) ? [price, ...markSeries] : []),
			{
				id: 'equity',
				name: 'Equity',
				type: 'line',
				xAxisIndex: at('equity'),
				yAxisIndex: at('equity'),
				data: model.equity.map((e, i) => [x[i], e]),
				showSymbol: false,
				// Drawn at the pixel width: fewer points to lay out, the shape kept (the deepest drawdown by 'min').
				sampling: 'lttb',
				lineStyle: { width: 1.5, color: colors.primary },
				itemStyle: { color: colors.primary },
				areaStyle: { color: colors.primary, opacity: 0.08 }
			},
			{
				id: 'drawdown',
				name: 'Drawdown',
				type: 'line',
				xAxisIndex: at('drawdown'),
				yAxisIndex: at('drawdown'),
				data: model.drawdown.map((d, i) => [x[i], d]),
				showSymbol: false,
				sampling: 'min',
				lineStyle: { width: 1, color: colors.loss },
				itemStyle: { color: colors.loss },
				areaStyle: { color: colors.loss, opacity: 0.2 }
			}
		]
	};
}
