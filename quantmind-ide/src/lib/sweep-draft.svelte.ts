import type { GridAxis, MetricKey, ObjectiveDirection, ParamValue, StrategyParamSpec, StrategySpec, SweepMethod, SweepRequest } from './protocol';
import { RunDraft, type FieldErrors } from './run-draft.svelte';

export type AxisMode = 'fixed' | 'list' | 'range';

/** One param's row of the grid: a fixed value (the run form's), a list of values, or a range. */
export interface GridRow {
	mode: AxisMode;
	list: string;
	start: number | null;
	stop: number | null;
	step: number | null;
}

const DEFAULT_BARS = 20_000;
const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** A first grid worth looking at: numbers ranged around their default (within the catalogue's bounds), others fixed. */
function defaultRow(spec: StrategyParamSpec): GridRow {
	const value = spec.default;
	if ((spec.type !== 'int' && spec.type !== 'float') || typeof value !== 'number') {
		return { mode: 'fixed', list: String(value), start: null, stop: null, step: null };
	}
	const whole = spec.type === 'int';
	const round = (x: number) => (whole ? Math.round(x) : Number(x.toPrecision(3)));
	const start = Math.max(spec.min ?? -Infinity, round(value / 2));
	const stop = Math.min(spec.max ?? Infinity, round(value * 2));
	const step = whole ? Math.max(1, Math.round((stop - start) / 5)) : round((stop - start) / 5);
	return start < stop && step > 0
		? { mode: 'range', list: String(value), start, stop, step }
		: { mode: 'list', list: String(value), start: null, stop: null, step: null };
}

/** "5, 10, 15" as the param's values; null where one is not of its type. */
function parseList(text: string, spec: StrategyParamSpec): ParamValue[] | null {
	const parts = text.split(',').map((part) => part.trim()).filter(Boolean);
	const values: ParamValue[] = [];
	for (const part of parts) {
		if (spec.type === 'int' || spec.type === 'float') {
			const number = Number(part);
			if (!Number.isFinite(number) || (spec.type === 'int' && !Number.isInteger(number))) return null;
			values.push(number);
		} else if (spec.type === 'bool') {
			if (part !== 'true' && part !== 'false') return null;
			values.push(part === 'true');
		} else {
			values.push(part);
		}
	}
	return values;
}

/**
 * The sweep form's values: the run form's strategy, data and settings (and its params, the
 * values of params not swept), plus a grid row per param, the objective and the search.
 */
export class SweepDraft {
	readonly run = new RunDraft();
	rows = $state<Record<string, GridRow>>({});
	direction = $state<ObjectiveDirection>('maximize');
	metric = $state<MetricKey>('sharpe_ratio');
	method = $state<SweepMethod>('grid');
	maxTrials = $state<number | null>(null);
	seed = $state<number | null>(null);

	constructor() {
		this.run.bars = DEFAULT_BARS;
	}

	get errors(): FieldErrors {
		return this.run.errors;
	}

	set errors(errors: FieldErrors) {
		this.run.errors = errors;
	}

	chooseStrategy(spec: StrategySpec): void {
		this.run.chooseStrategy(spec);
		this.rows = Object.fromEntries(Object.entries(spec.params).map(([name, param]) => [name, defaultRow(param)]));
	}

	chooseDefault(strategies: StrategySpec[]): void {
		this.run.chooseDefault(strategies);
		const spec = strategies.find((s) => s.name === this.run.strategy);
		if (spec && Object.keys(this.rows).length === 0) this.chooseStrategy(spec);
	}

	clear(field: string): void {
		this.run.clear(field);
		// The server names a bad range by its part (grid.fast.step) or as a whole (grid.fast).
		for (const name of Object.keys(this.errors)) if (field.startsWith(`${name}.`)) delete this.errors[name];
	}

	validate(spec: StrategySpec | undefined): FieldErrors {
		const fixed = Object.fromEntries(Object.entries(spec?.params ?? {}).filter(([name]) => this.rows[name]?.mode === 'fixed'));
		const errors = this.run.validate(spec && { ...spec, params: fixed });
		let swept = 0;
		for (const [name, param] of Object.entries(spec?.params ?? {})) {
			const row = this.rows[name];
			if (!row || row.mode === 'fixed') continue;
			swept += 1;
			const field = `grid.${name}`;
			if (row.mode === 'list') {
				const values = parseList(row.list, param);
				if (!values) errors[field] = `${name}: values of type ${param.type}, separated by commas.`;
				else if (values.length === 0) errors[field] = `${name}: at least one value.`;
			} else {
				for (const part of ['start', 'stop', 'step'] as const) {
					if (!isNumber(row[part])) errors[`${field}.${part}`] = `Needs a number.`;
				}
				if (isNumber(row.step) && row.step <= 0) errors[`${field}.step`] = 'Step must be above 0.';
			}
		}
		if (spec && swept === 0) errors.grid = 'Sweep at least one param (a list or a range).';
		if (this.method !== 'grid' && !isNumber(this.maxTrials)) errors.max_trials = `${this.method} needs a number of trials.`;
		if (this.maxTrials !== null && !(Number.isInteger(this.maxTrials) && this.maxTrials > 0)) errors.max_trials = 'A whole number above 0.';
		if (this.seed !== null && !Number.isInteger(this.seed)) errors.seed = 'Seed is a whole number.';
		return errors;
	}

	toRequest(strategies: StrategySpec[]): SweepRequest {
		const spec = strategies.find((s) => s.name === this.run.strategy);
		const { params, ...run } = this.run.toRequest();
		const grid: Record<string, GridAxis> = {};
		const fixed: Record<string, ParamValue> = {};
		for (const [name, value] of Object.entries(params)) {
			const row = this.rows[name];
			const param = spec?.params[name];
			if (!row || !param || row.mode === 'fixed') fixed[name] = value;
			else if (row.mode === 'list') grid[name] = parseList(row.list, param) ?? [];
			else grid[name] = { start: row.start!, stop: row.stop!, step: row.step! };
		}
		return {
			...run,
			grid,
			params: fixed,
			[this.direction]: this.metric,
			method: this.method,
			...(this.maxTrials !== null && { max_trials: this.maxTrials }),
			...(this.seed !== null && { seed: this.seed })
		};
	}
}
