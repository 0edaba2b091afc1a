/**
 * ECharts, tree-shaken: only the charts and components the IDE draws (candles, lines, trade
 * marks, the sweep heatmap, zoom and hover), on the canvas renderer.
 */
import { CandlestickChart, HeatmapChart, LineChart, ScatterChart } from 'echarts/charts';
import type { CandlestickSeriesOption, HeatmapSeriesOption, LineSeriesOption, ScatterSeriesOption } from 'echarts/charts';
import {
	DataZoomComponent,
	GridComponent,
	LegendComponent,
	TooltipComponent,
	VisualMapComponent
} from 'echarts/components';
import type {
	DataZoomComponentOption,
	GridComponentOption,
	LegendComponentOption,
	TooltipComponentOption,
	VisualMapComponentOption
} from 'echarts/components';
import { init, use, type ComposeOption, type EChartsType } from 'echarts/core';
import { CanvasRenderer } from 'echarts/renderers';

use([
	CandlestickChart,
	HeatmapChart,
	LineChart,
	ScatterChart,
	DataZoomComponent,
	GridComponent,
	LegendComponent,
	TooltipComponent,
	VisualMapComponent,
	CanvasRenderer
]);

export type ChartOption = ComposeOption<
	| CandlestickSeriesOption
	| HeatmapSeriesOption
	| LineSeriesOption
	| ScatterSeriesOption
	| DataZoomComponentOption
	| GridComponentOption
	| LegendComponentOption
	| TooltipComponentOption
	| VisualMapComponentOption
>;

export { init };
export type { EChartsType };
