import { describe, expect, it } from 'vitest';
import { STRATEGIES } from '../test-support/fixtures';
import { formatData, formatParams } from './format';
import { RunDraft } from './run-draft.svelte';

describe('RunDraft', () => {
	it('leaves blank optional settings out, so the server applies its defaults', () => {
		const draft = new RunDraft();
		draft.chooseDefault(STRATEGIES);
		draft.seed = null;
		draft.freq = ' ';
		draft.initialBalance = null;
		draft.commission = null;
		expect(draft.toRequest()).toEqual({
			strategy: 'sma_crossover',
			params: { fast: 10, slow: 30 },
			data: { sample: 'gbm', bars: 100_000 }
		});
	});

	it('gives back the request it was loaded from; unknown params are dropped, missing ones take defaults', () => {
		const draft = new RunDraft();
		draft.load(
			{ strategy: 'sma_crossover', params: { slow: 40, gone: 1 }, data: { path: 'a.csv' }, initial_balance: 5, commission: 0.01, periods_per_year: 12 },
			STRATEGIES
		);
		expect(draft.toRequest()).toEqual({
			strategy: 'sma_crossover',
			params: { fast: 10, slow: 40 },
			data: { path: 'a.csv' },
			initial_balance: 5,
			commission: 0.01,
			periods_per_year: 12
		});
	});

	it('checks types and catalogue bounds only', () => {
		const draft = new RunDraft();
		draft.chooseDefault(STRATEGIES);
		draft.params.fast = 10_001;
		draft.params.slow = 2.5;
		draft.bars = 1;
		draft.seed = 0.5;
		draft.initialBalance = -1; // the server's rule, answered with a 400
		expect(draft.validate(STRATEGIES[1])).toEqual({
			'params.fast': 'fast must be ≤ 10000.',
			'params.slow': 'slow is a whole number.',
			'data.seed': 'Seed is a whole number.'
		});
	});

	it("clears a data field's error together with the server's `data` one and the form's", () => {
		const draft = new RunDraft();
		draft.errors = { data: 'bad sample', '': 'try later', 'params.fast': 'too big' };
		draft.clear('data.bars');
		expect(draft.errors).toEqual({ 'params.fast': 'too big' });
	});
});

describe('run descriptions', () => {
	it('names params and each kind of data', () => {
		expect(formatParams({ fast: 10, slow: 30, long_only: true })).toBe('fast=10, slow=30, long_only=true');
		expect(formatParams({})).toBe('no params');
		expect(formatData({ sample: 'gbm', bars: 200_000, seed: 1, freq: '1min' })).toBe('GBM sample, 200,000 bars, 1min, seed 1');
		expect(formatData({ sample: 'gbm', bars: 5 })).toBe('GBM sample, 5 bars');
		expect(formatData({ path: 'data/prices.csv' })).toBe('data/prices.csv');
		expect(formatData({ dataframe: { rows: 12 } })).toBe('DataFrame, 12 rows');
		expect(formatData(undefined)).toBe('—');
	});
});
