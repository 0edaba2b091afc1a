import { describe, expect, it } from 'vitest';
import { SweepHeatmap, defaultAxes } from './heatmap';
import type { Objective, ParamValue, SweepTrialData } from './protocol';

const GRID = { fast: [5, 10, 15], slow: [20, 40], stop: [0.01, 0.02] };
const MAXIMIZE: Objective = { metric: 'sharpe_ratio', direction: 'maximize' };

let nextId = 0;
function trial(params: Record<string, ParamValue>, sharpe: number | null, status: SweepTrialData['status'] = 'completed'): SweepTrialData {
	nextId += 1;
	return {
		backtest_id: status === 'skipped' ? null : `t${nextId}`,
		params,
		status,
		metrics: status === 'completed' ? { sharpe_ratio: sharpe, total_return: (sharpe ?? 0) / 10 } : null,
		objective: status === 'completed' ? sharpe : null,
		error: null,
		worker: null,
		attempt: 1
	};
}

const cellAt = (map: SweepHeatmap, xi: number, yi: number) => map.data().cells.find((c) => c.xi === xi && c.yi === yi);

describe('SweepHeatmap', () => {
	it('aggregates the params off the axes by max and says which', () => {
		const map = new SweepHeatmap(GRID, defaultAxes(GRID, MAXIMIZE), MAXIMIZE);
		map.add(trial({ fast: 5, slow: 20, stop: 0.01 }, 0.4));
		map.add(trial({ fast: 5, slow: 20, stop: 0.02 }, 0.9));
		map.add(trial({ fast: 5, slow: 20, stop: 0.03 }, 0.1)); // a value off the grid's list still counts
		const data = map.data();
		expect(data.aggregation).toBe('max');
		expect(data.aggregatedOver).toEqual(['stop']);
		expect(data.xValues).toEqual([5, 10, 15]);
		expect(data.yValues).toEqual([20, 40]);
		expect(cellAt(map, 0, 0)).toMatchObject({ value: 0.9, trials: 3, trial: { params: { stop: 0.02 } } });
	});

	it('leaves combinations without a completed trial empty: pending, failed, skipped or a null metric', () => {
		const map = new SweepHeatmap(GRID, defaultAxes(GRID, MAXIMIZE), MAXIMIZE);
		expect(map.add(trial({ fast: 15, slow: 20, stop: 0.01 }, null, 'skipped'))).toBe(false);
		expect(map.add(trial({ fast: 10, slow: 20, stop: 0.01 }, null, 'failed'))).toBe(false);
		map.add(trial({ fast: 5, slow: 40, stop: 0.01 }, null)); // Sharpe of a flat curve
		map.add(trial({ fast: 10, slow: 40, stop: 0.01 }, 1.5));
		const data = map.data();
		expect(data.cells.map((c) => [c.xi, c.yi])).toEqual([[1, 1]]);
		expect([data.min, data.max]).toEqual([1.5, 1.5]);
	});

	it('updates live, one trial at a time, and marks the best trial\'s cell', () => {
		const map = new SweepHeatmap(GRID, defaultAxes(GRID, MAXIMIZE), MAXIMIZE);
		expect(map.data().cells).toEqual([]);
		expect(map.data().best).toBeNull();
		map.add(trial({ fast: 5, slow: 20, stop: 0.01 }, 0.5));
		const first = map.data();
		expect(first.best).toMatchObject({ xi: 0, yi: 0, value: 0.5 });
		expect(map.data()).toBe(first); // unchanged: the same object, so nothing redraws
		map.add(trial({ fast: 15, slow: 40, stop: 0.02 }, 2.0));
		map.add(trial({ fast: 10, slow: 40, stop: 0.01 }, 1.0));
		const later = map.data();
		expect(later).not.toBe(first);
		expect(later.cells).toHaveLength(3);
		expect(later.best).toMatchObject({ xi: 2, yi: 1, value: 2.0 });
		expect([later.min, later.max]).toEqual([0.5, 2.0]);
	});

	it('shows another metric over other axes, still marking the best trial by the objective', () => {
		const axes = { x: 'stop', y: 'fast', metric: 'total_return' as const };
		const map = new SweepHeatmap(GRID, axes, MAXIMIZE);
		map.add(trial({ fast: 5, slow: 20, stop: 0.01 }, 3));
		map.add(trial({ fast: 5, slow: 40, stop: 0.01 }, 1));
		const data = map.data();
		expect(data.aggregatedOver).toEqual(['slow']);
		expect(data.cells).toEqual([expect.objectContaining({ xi: 0, yi: 0, value: 0.3, trials: 2 })]);
		expect(data.best?.trial.objective).toBe(3);
	});

	it('aggregates a minimized objective by its best, the min', () => {
		const minimize: Objective = { metric: 'sharpe_ratio', direction: 'minimize' };
		const map = new SweepHeatmap(GRID, defaultAxes(GRID, minimize), minimize);
		map.add(trial({ fast: 5, slow: 20, stop: 0.01 }, 0.4));
		map.add(trial({ fast: 5, slow: 20, stop: 0.02 }, -0.2));
		map.add(trial({ fast: 10, slow: 20, stop: 0.02 }, 0.1));
		const data = map.data();
		expect(data.aggregation).toBe('min');
		expect(cellAt(map, 0, 0)?.value).toBe(-0.2);
		expect(data.best).toMatchObject({ xi: 0, yi: 0 });
	});

	it('draws a one-param grid as one row', () => {
		const grid = { fast: [5, 10] };
		const map = new SweepHeatmap(grid, defaultAxes(grid, MAXIMIZE), MAXIMIZE);
		map.add(trial({ fast: 10 }, 1));
		expect(map.data()).toMatchObject({ yValues: [''], aggregatedOver: [], cells: [{ xi: 1, yi: 0, value: 1 }] });
	});
});
