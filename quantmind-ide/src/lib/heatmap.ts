import type { MetricKey, Objective, ParamValue, SweepTrialData } from './protocol';

/** Which surface to show: `metric` over param `x` (across) and `y` (down; null for a one-param grid). */
export interface HeatmapAxes {
	x: string;
	y: string | null;
	metric: MetricKey;
}

/** One filled cell: the value shown and the trial that gave it (what hover and click show). */
export interface HeatCell {
	xi: number;
	yi: number;
	value: number;
	trial: SweepTrialData;
	/** Completed trials that fell in this cell (more than one when other params are swept too). */
	trials: number;
}

export interface HeatmapData {
	xValues: ParamValue[];
	yValues: ParamValue[];
	/** Filled cells only: a combination with no completed trial (yet) has none. */
	cells: HeatCell[];
	/** The swept params folded into each cell, and how: 'max' or 'min'. */
	aggregatedOver: string[];
	aggregation: 'max' | 'min';
	/** The cell of the sweep's best trial by its objective. */
	best: HeatCell | null;
	min: number;
	max: number;
}

const valueKey = (value: ParamValue) => JSON.stringify(value);

/**
 * A sweep's heatmap, updated one trial at a time (O(1) each) as `sweep_trial` events arrive.
 * Other swept params are aggregated by max, as backtesting.py's plot_heatmaps does; the one
 * exception is the objective when it is minimized, whose best is its min.
 */
export class SweepHeatmap {
	private readonly xIndex: Map<string, number>;
	private readonly yIndex: Map<string, number>;
	private readonly cells = new Map<number, HeatCell>();
	private readonly sign: number;
	private bestTrial: SweepTrialData | null = null;
	private cached: HeatmapData | null = null;
	readonly aggregation: 'max' | 'min';

	constructor(
		private readonly grid: Record<string, ParamValue[]>,
		readonly axes: HeatmapAxes,
		private readonly objective: Objective
	) {
		this.xIndex = new Map(grid[axes.x].map((value, i) => [valueKey(value), i]));
		this.yIndex = new Map((axes.y ? grid[axes.y] : ['']).map((value, i) => [valueKey(value), i]));
		const minimized = objective.direction === 'minimize' && axes.metric === objective.metric;
		this.aggregation = minimized ? 'min' : 'max';
		this.sign = minimized ? -1 : 1;
	}

	/** Fold in a trial; returns whether the heatmap changed. */
	add(trial: SweepTrialData): boolean {
		if (trial.status !== 'completed') return false;
		let changed = false;
		const objective = trial.objective;
		const objectiveSign = this.objective.direction === 'minimize' ? -1 : 1;
		if (objective != null && (this.bestTrial === null || objectiveSign * objective > objectiveSign * this.bestTrial.objective!)) {
			this.bestTrial = trial;
			changed = true;
		}
		const value = trial.metrics?.[this.axes.metric];
		const xi = this.xIndex.get(valueKey(trial.params[this.axes.x]));
		const yi = this.axes.y ? this.yIndex.get(valueKey(trial.params[this.axes.y])) : 0;
		if (typeof value !== 'number' || !Number.isFinite(value) || xi === undefined || yi === undefined) {
			if (changed) this.cached = null;
			return changed;
		}
		const key = yi * this.xIndex.size + xi;
		const cell = this.cells.get(key);
		if (!cell) {
			this.cells.set(key, { xi, yi, value, trial, trials: 1 });
		} else {
			const better = this.sign * value > this.sign * cell.value;
			this.cells.set(key, better ? { xi, yi, value, trial, trials: cell.trials + 1 } : { ...cell, trials: cell.trials + 1 });
		}
		this.cached = null;
		return true;
	}

	data(): HeatmapData {
		if (this.cached) return this.cached;
		const cells = [...this.cells.values()];
		let min = Infinity;
		let max = -Infinity;
		for (const cell of cells) {
			min = Math.min(min, cell.value);
			max = Math.max(max, cell.value);
		}
		const best = this.bestTrial ? this.cellOf(this.bestTrial) : null;
		this.cached = {
			xValues: this.grid[this.axes.x],
			yValues: this.axes.y ? this.grid[this.axes.y] : [''],
			cells,
			aggregatedOver: Object.keys(this.grid).filter((name) => name !== this.axes.x && name !== this.axes.y),
			aggregation: this.aggregation,
			best,
			min,
			max
		};
		return this.cached;
	}

	private cellOf(trial: SweepTrialData): HeatCell | null {
		const xi = this.xIndex.get(valueKey(trial.params[this.axes.x]));
		const yi = this.axes.y ? this.yIndex.get(valueKey(trial.params[this.axes.y])) : 0;
		if (xi === undefined || yi === undefined) return null;
		return this.cells.get(yi * this.xIndex.size + xi) ?? null;
	}
}

/** The default axes: the first two swept params, the sweep's objective. */
export function defaultAxes(grid: Record<string, ParamValue[]>, objective: Objective): HeatmapAxes {
	const [x, y = null] = Object.keys(grid);
	return { x, y, metric: objective.metric };
}
