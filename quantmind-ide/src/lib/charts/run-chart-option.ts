import { formatMoney, formatPercent, formatSignedMoney } from '../format';
import type { RunChartModel, TradeMark } from '../run-chart-data';
import type { ChartColors } from './colors';
import type { ChartOption } from './echarts';

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

function marks(trades: TradeMark[], pick: (mark: TradeMark) => boolean) {
	return trades.filter(pick).map((mark) => ({ value: [mark.time, mark.price], mark }));
}

function tradeLine(mark: TradeMark): string {
	const side = mark.side === 'long' ? 'Long' : 'Short';
	const what = mark.kind === 'entry' ? `${side} entry` : `${side} exit${mark.reason ? ` (${mark.reason})` : ''}`;
	const pnl = mark.kind === 'exit' ? ` · P&L ${formatSignedMoney(mark.pnl)}` : '';
	return `${what} · ${Math.abs(mark.size).toLocaleString('en-US')} @ ${formatMoney(mark.price)}${pnl}`;
}

interface TooltipParam {
	seriesId?: string;
	dataIndex: number;
	data?: { mark?: TradeMark };
}

/** The hover read-out: the bar's time, price (OHLC or close), equity and drawdown, and any trade under the cursor. */
function readOut(model: RunChartModel, params: TooltipParam[]): string {
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
	for (const p of params) if (p.data?.mark) lines.push(tradeLine(p.data.mark));
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
	const scatter = (id: string, name: string, symbol: string, color: string, pick: (mark: TradeMark) => boolean, rotate = 0) => ({
		id,
		name,
		type: 'scatter' as const,
		symbol,
		symbolRotate: rotate,
		symbolSize: 9,
		itemStyle: { color, borderColor: colors.background, borderWidth: 0.5 },
		data: marks(model.trades, pick),
		z: 5
	});
	return {
		animation: false,
		useUTC: true,
		textStyle: { fontFamily: 'inherit' },
		grid: panes.map((pane) => ({ left: LEFT, right: RIGHT, ...layout[pane] })),
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
			formatter: (params: unknown) => readOut(model, params as TooltipParam[])
		},
		dataZoom: [
			{ type: 'inside', xAxisIndex: axes },
			{ type: 'slider', xAxisIndex: axes, bottom: 6, height: 18, left: LEFT, right: RIGHT, showDetail: false, borderColor: colors.grid }
		],
		series: [
			...(hasPrice(model)
				? [
						price,
						scatter('long-entries', 'Long entry', 'triangle', colors.gain, (m) => m.kind === 'entry' && m.side === 'long'),
						scatter('short-entries', 'Short entry', 'triangle', colors.loss, (m) => m.kind === 'entry' && m.side === 'short', 180),
						// An exit's colour is its trade's result (a series each: no per-item styles to draw).
						scatter('winning-exits', 'Winning exit', 'diamond', colors.gain, (m) => m.kind === 'exit' && (m.pnl ?? 0) >= 0),
						scatter('losing-exits', 'Losing exit', 'diamond', colors.loss, (m) => m.kind === 'exit' && (m.pnl ?? 0) < 0)
					]
				: []),
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
