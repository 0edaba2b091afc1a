import { formatMetric, formatParams } from '../format';
import type { HeatCell, HeatmapAxes, HeatmapData } from '../heatmap';
import type { ChartColors } from './colors';
import type { ChartOption } from './echarts';
import { FIXED_GRID } from './fixed-grid';

/** The plot's margins in pixels (left, top, right, bottom): the colour scale sits on the right. */
export const HEATMAP_PLOT = { left: 64, top: 16, right: 84, bottom: 44 };
/** Values are written in the cells when there are few enough to read. */
const MAX_LABELLED_CELLS = 144;
/** The metrics a hover shows besides the params. */
const KEY_METRICS = ['sharpe_ratio', 'total_return', 'max_drawdown', 'win_rate', 'total_trades'] as const;

function hover(cell: HeatCell, axes: HeatmapAxes, aggregation: string): string {
	const metrics = cell.trial.metrics ?? {};
	const lines = [
		`<b>${formatParams(cell.trial.params)}</b>`,
		...KEY_METRICS.map((key) => `${key} ${formatMetric(key, metrics[key])}`)
	];
	if (cell.trials > 1) lines.push(`<i>${aggregation} of ${cell.trials} trials; this one shown</i>`);
	if (!KEY_METRICS.includes(axes.metric as (typeof KEY_METRICS)[number])) {
		lines.splice(1, 0, `${axes.metric} ${formatMetric(axes.metric, cell.value)}`);
	}
	return lines.join('<br>');
}

const BEST_SERIES = 'best';

/** What ECharts says of an item under the mouse (hover, click). */
export interface ChartItem {
	seriesId?: string;
	dataIndex: number;
}

const cellRow = (cell: HeatCell): [number, number, number] => [cell.xi, cell.yi, cell.value];

/** The cell an item of `heatmapOption(data)` draws: its data index in the cells, or the best cell on top. */
export function cellOfItem(data: HeatmapData, item: ChartItem): HeatCell | null {
	return (item.seriesId === BEST_SERIES ? data.best : data.cells[item.dataIndex]) ?? null;
}

/** The ECharts option of a sweep's heatmap: one cell per combination of the two params, the best outlined. */
export function heatmapOption(data: HeatmapData, axes: HeatmapAxes, colors: ChartColors): ChartOption {
	const label = { color: colors.muted, fontSize: 11 };
	const valueText = (params: unknown) => formatMetric(axes.metric, (params as { value: number[] }).value[2]);
	const labelled = data.cells.length <= MAX_LABELLED_CELLS;
	// Better is green: high values, unless the objective is minimized (aggregated by min).
	const scale = data.aggregation === 'min' ? [colors.gain, colors.background, colors.loss] : [colors.loss, colors.background, colors.gain];
	const category = (values: unknown[], name: string | null) => ({
		type: 'category' as const,
		data: values.map(String),
		name: name ?? '',
		nameLocation: 'middle' as const,
		nameGap: 28,
		nameTextStyle: { color: colors.text, fontSize: 12 },
		axisLabel: label,
		axisLine: { lineStyle: { color: colors.grid } },
		splitArea: { show: true, areaStyle: { color: ['transparent'] } }
	});
	return {
		animation: false,
		textStyle: { fontFamily: 'inherit' },
		grid: { ...FIXED_GRID, ...HEATMAP_PLOT },
		xAxis: category(data.xValues, axes.x),
		yAxis: { ...category(data.yValues, axes.y), nameGap: 44 },
		visualMap: {
			min: Number.isFinite(data.min) ? data.min : 0,
			max: Number.isFinite(data.max) && data.max > data.min ? data.max : data.min + 1,
			calculable: true,
			orient: 'vertical',
			right: 6,
			top: 'middle',
			itemHeight: 140,
			itemWidth: 12,
			textStyle: label,
			formatter: (value: unknown) => formatMetric(axes.metric, value as number),
			inRange: { color: scale }
		},
		tooltip: {
			trigger: 'item',
			backgroundColor: colors.background,
			borderColor: colors.grid,
			textStyle: { color: colors.text, fontSize: 12 },
			formatter: (params: unknown) => {
				const cell = cellOfItem(data, params as ChartItem);
				return cell ? hover(cell, axes, data.aggregation) : '';
			}
		},
		series: [
			{
				id: 'cells',
				type: 'heatmap',
				// Plain [x, y, value] rows: an object per item (even one) makes ECharts deep-clone every
				// item on setOption and build a model per cell to draw it, which thousands of cells cannot afford.
				data: data.cells.map(cellRow),
				itemStyle: { borderColor: colors.background, borderWidth: 1 },
				label: {
					show: labelled,
					color: colors.text,
					fontSize: 10,
					formatter: valueText
				},
				// Said again for hover: ECharts copies the first label.show into emphasis and keeps it, so a
				// live sweep past the labelled size would still lay out a hidden label for every cell.
				emphasis: { label: { show: labelled }, itemStyle: { borderColor: colors.primary, borderWidth: 2 } },
				// Thousands of cells are drawn a few hundred per frame, not in one long task.
				progressive: 400,
				progressiveThreshold: 400
			},
			{
				// The best cell again, on top, outlined and starred: a series of its own keeps the cells plain.
				id: BEST_SERIES,
				type: 'heatmap',
				data: data.best ? [cellRow(data.best)] : [],
				itemStyle: { borderColor: colors.text, borderWidth: 3 },
				label: {
					show: true,
					formatter: (params: unknown) => `★ ${valueText(params)}`,
					fontWeight: 'bold' as const,
					color: colors.text,
					backgroundColor: colors.background,
					padding: [1, 3],
					borderRadius: 2
				},
				emphasis: { itemStyle: { borderColor: colors.primary, borderWidth: 3 } }
			}
		]
	};
}
