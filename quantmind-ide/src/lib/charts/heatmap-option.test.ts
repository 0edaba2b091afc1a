import { describe, expect, it } from 'vitest';
import { SweepHeatmap, defaultAxes, type HeatmapData } from '../heatmap';
import type { Objective, SweepTrialData } from '../protocol';
import type { ChartColors } from './colors';
import { cellOfItem, heatmapOption } from './heatmap-option';

const COLORS: ChartColors = { text: '#000', muted: '#666', grid: '#ddd', primary: '#00f', gain: '#0a0', loss: '#a00', background: '#fff' };
const GRID = { fast: [5, 10], slow: [20, 40] };
const MAXIMIZE: Objective = { metric: 'sharpe_ratio', direction: 'maximize' };

function trial(fast: number, slow: number, sharpe: number): SweepTrialData {
	return {
		backtest_id: `t${fast}-${slow}`,
		params: { fast, slow },
		status: 'completed',
		metrics: { sharpe_ratio: sharpe },
		objective: sharpe,
		error: null,
		worker: null,
		attempt: 1
	};
}

function heatmap(...trials: SweepTrialData[]): HeatmapData {
	const map = new SweepHeatmap(GRID, defaultAxes(GRID, MAXIMIZE), MAXIMIZE);
	trials.forEach((t) => map.add(t));
	return map.data();
}

type Series = { id: string; data: unknown[] };
const seriesOf = (data: HeatmapData) => (heatmapOption(data, defaultAxes(GRID, MAXIMIZE), COLORS) as unknown as { series: Series[] }).series;

describe('heatmapOption', () => {
	it('draws the cells as plain [x, y, value] rows and the best cell again in a series of its own', () => {
		const data = heatmap(trial(5, 20, 0.5), trial(10, 40, 1.5), trial(10, 20, -0.2));
		const [cells, best] = seriesOf(data);
		expect(cells).toMatchObject({ id: 'cells', data: [[0, 0, 0.5], [1, 1, 1.5], [1, 0, -0.2]] });
		expect(best).toMatchObject({ id: 'best', data: [[1, 1, 1.5]] });
	});

	it('writes values in the cells, on hover too, only while there are few enough to read', () => {
		const labels = (data: HeatmapData) => {
			const [cells] = seriesOf(data) as unknown as { label: { show: boolean }; emphasis: { label: { show: boolean } } }[];
			return [cells.label.show, cells.emphasis.label.show];
		};
		expect(labels(heatmap(trial(5, 20, 0.5)))).toEqual([true, true]);
		const many = { ...heatmap(trial(5, 20, 0.5)) };
		many.cells = Array.from({ length: 145 }, () => many.cells[0]);
		expect(labels(many)).toEqual([false, false]);
	});

	it('puts the plot exactly at its margins, without ECharts 6 laying the axes out again to fit', () => {
		const { grid } = heatmapOption(heatmap(), defaultAxes(GRID, MAXIMIZE), COLORS) as unknown as { grid: object };
		expect(grid).toEqual({ outerBoundsMode: 'none', left: 64, top: 16, right: 84, bottom: 44 });
	});

	it('has no best series data before a trial completes', () => {
		expect(seriesOf(heatmap())[1].data).toEqual([]);
	});

	it('finds the cell of a hovered or clicked item: by data index in the cells, the best one on top', () => {
		const data = heatmap(trial(5, 20, 0.5), trial(10, 40, 1.5));
		expect(cellOfItem(data, { seriesId: 'cells', dataIndex: 0 })?.trial.backtest_id).toBe('t5-20');
		expect(cellOfItem(data, { seriesId: 'best', dataIndex: 0 })?.trial.backtest_id).toBe('t10-40');
		expect(cellOfItem(data, { seriesId: 'cells', dataIndex: 7 })).toBeNull();
	});
});
