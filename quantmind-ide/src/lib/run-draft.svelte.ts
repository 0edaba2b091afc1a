import type { BacktestRequest, DataSource, ParamValue, StoredRequest, StrategySpec } from './protocol';

/** Sample data that needs nothing external, so Run works on a fresh install. */
const DEFAULT_SAMPLE = { sample: 'gbm', bars: 100_000, seed: 42, freq: '1min' } as const;
const DEFAULT_STRATEGY = 'sma_crossover';

/**
 * Messages by the server's field names (`params.fast`, `data`, `data.path`, `initial_balance`...),
 * so the server's 400 `field` and the form's own checks mark the same control; '' is the form.
 */
export type FieldErrors = Record<string, string>;

function defaultsOf(spec: StrategySpec): Record<string, ParamValue> {
	return Object.fromEntries(Object.entries(spec.params).map(([name, p]) => [name, p.default]));
}

const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/**
 * The run form's values. Number inputs hold null when blank; a blank optional setting is left
 * out of the request so the server applies its own default. Limits come from the server's
 * strategy catalogue only: everything else the server checks and answers with a 400.
 */
export class RunDraft {
	strategy = $state('');
	params = $state<Record<string, ParamValue | null>>({});
	dataKind = $state<'sample' | 'path'>('sample');
	bars = $state<number | null>(DEFAULT_SAMPLE.bars);
	seed = $state<number | null>(DEFAULT_SAMPLE.seed);
	freq = $state<string>(DEFAULT_SAMPLE.freq);
	path = $state('');
	initialBalance = $state<number | null>(10_000);
	commission = $state<number | null>(0);
	periodsPerYear = $state<number | null>(null);
	errors = $state<FieldErrors>({});

	chooseStrategy(spec: StrategySpec): void {
		this.strategy = spec.name;
		this.params = defaultsOf(spec);
		this.errors = {};
	}

	/** Open on the built-in default (or the first strategy) once the catalogue arrives. */
	chooseDefault(strategies: StrategySpec[]): void {
		const spec = strategies.find((s) => s.name === DEFAULT_STRATEGY) ?? strategies[0];
		if (!this.strategy && spec) this.chooseStrategy(spec);
	}

	/**
	 * Fill the form from a stored run, to run it again. What the server does not offer (a
	 * notebook's own strategy, a DataFrame) keeps the form's current value.
	 */
	load(request: StoredRequest, strategies: StrategySpec[]): void {
		const spec = strategies.find((s) => s.name === request.strategy);
		if (spec) {
			const given = Object.entries(request.params ?? {}).filter(([name]) => name in spec.params);
			this.strategy = spec.name;
			this.params = { ...defaultsOf(spec), ...Object.fromEntries(given) };
		}
		const data = request.data;
		if (data && 'path' in data) {
			this.dataKind = 'path';
			this.path = data.path;
		} else if (data && 'sample' in data) {
			this.dataKind = 'sample';
			this.bars = data.bars;
			this.seed = data.seed ?? null;
			this.freq = data.freq ?? '';
		}
		this.initialBalance = request.initial_balance ?? null;
		this.commission = request.commission ?? null;
		this.periodsPerYear = request.periods_per_year ?? null;
		this.errors = {};
	}

	/** The form's own checks: types, and the bounds of params from the strategy catalogue. */
	validate(spec: StrategySpec | undefined): FieldErrors {
		const errors: FieldErrors = {};
		if (!spec) errors.strategy = 'Choose a strategy.';
		for (const [name, param] of Object.entries(spec?.params ?? {})) {
			const value = this.params[name];
			const field = `params.${name}`;
			if (param.type !== 'int' && param.type !== 'float') continue;
			if (!isNumber(value)) errors[field] = `${name} needs a number.`;
			else if (param.type === 'int' && !Number.isInteger(value)) errors[field] = `${name} is a whole number.`;
			else if (param.min != null && value < param.min) errors[field] = `${name} must be ≥ ${param.min}.`;
			else if (param.max != null && value > param.max) errors[field] = `${name} must be ≤ ${param.max}.`;
		}
		if (this.dataKind === 'path') {
			if (!this.path.trim()) errors['data.path'] = 'A CSV or Parquet file under the server root.';
		} else {
			if (!Number.isInteger(this.bars)) errors['data.bars'] = 'Bars is a whole number.';
			if (this.seed !== null && !Number.isInteger(this.seed)) errors['data.seed'] = 'Seed is a whole number.';
		}
		for (const [field, value] of [
			['initial_balance', this.initialBalance],
			['commission', this.commission],
			['periods_per_year', this.periodsPerYear]
		] as const) {
			if (value !== null && !isNumber(value)) errors[field] = 'Needs a number.';
		}
		return errors;
	}

	/** An edit of `field` takes back what was said about it (and about the form as a whole). */
	clear(field: string): void {
		delete this.errors[field];
		delete this.errors[''];
		// The server names a bad sample or path as a whole: `data`.
		if (field.startsWith('data.')) delete this.errors.data;
	}

	toRequest(): BacktestRequest {
		const data: DataSource =
			this.dataKind === 'path'
				? { path: this.path.trim() }
				: {
						sample: 'gbm',
						bars: this.bars as number,
						...(this.seed !== null && { seed: this.seed }),
						...(this.freq.trim() && { freq: this.freq.trim() })
					};
		return {
			strategy: this.strategy,
			params: { ...this.params } as Record<string, ParamValue>,
			data,
			...(this.initialBalance !== null && { initial_balance: this.initialBalance }),
			...(this.commission !== null && { commission: this.commission }),
			...(this.periodsPerYear !== null && { periods_per_year: this.periodsPerYear })
		};
	}
}
