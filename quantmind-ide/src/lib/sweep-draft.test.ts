import { describe, expect, it } from 'vitest';
import { STRATEGIES } from '../test-support/fixtures';
import { SweepDraft } from './sweep-draft.svelte';

function draftFor(strategy = 'sma_crossover') {
	const draft = new SweepDraft();
	draft.chooseStrategy(STRATEGIES.find((s) => s.name === strategy)!);
	return draft;
}

describe('SweepDraft', () => {
	it('opens with a grid worth running: each number ranged around its default within its bounds', () => {
		const draft = new SweepDraft();
		draft.chooseDefault(STRATEGIES);
		expect(draft.rows.fast).toMatchObject({ mode: 'range', start: 5, stop: 20, step: 3 });
		expect(draft.rows.slow).toMatchObject({ mode: 'range', start: 15, stop: 60, step: 9 });
		expect(draft.validate(STRATEGIES[1])).toEqual({});
		expect(draft.toRequest(STRATEGIES)).toEqual({
			strategy: 'sma_crossover',
			data: { sample: 'gbm', bars: 20_000, seed: 42, freq: '1min' },
			initial_balance: 10_000,
			commission: 0,
			grid: { fast: { start: 5, stop: 20, step: 3 }, slow: { start: 15, stop: 60, step: 9 } },
			params: {},
			maximize: 'sharpe_ratio',
			method: 'grid'
		});
	});

	it('sends lists, fixed params, the objective and the search as the server names them', () => {
		const draft = draftFor();
		draft.rows.fast = { ...draft.rows.fast, mode: 'list', list: '5, 10,20' };
		draft.rows.slow = { ...draft.rows.slow, mode: 'fixed' };
		draft.run.params.slow = 50;
		draft.direction = 'minimize';
		draft.metric = 'max_drawdown';
		draft.method = 'tpe';
		draft.maxTrials = 40;
		draft.seed = 7;
		expect(draft.validate(STRATEGIES[1])).toEqual({});
		expect(draft.toRequest(STRATEGIES)).toMatchObject({
			grid: { fast: [5, 10, 20] },
			params: { slow: 50 },
			minimize: 'max_drawdown',
			method: 'tpe',
			max_trials: 40,
			seed: 7
		});
	});

	it('names the field of each mistake as the server would', () => {
		const draft = draftFor();
		draft.rows.fast = { ...draft.rows.fast, mode: 'list', list: '5, ten' };
		draft.rows.slow = { ...draft.rows.slow, step: 0 };
		draft.method = 'random';
		expect(Object.keys(draft.validate(STRATEGIES[1])).sort()).toEqual(['grid.fast', 'grid.slow.step', 'max_trials']);

		const fixed = draftFor();
		fixed.rows.fast = { ...fixed.rows.fast, mode: 'fixed' };
		fixed.rows.slow = { ...fixed.rows.slow, mode: 'fixed' };
		expect(fixed.validate(STRATEGIES[1])).toEqual({ grid: 'Sweep at least one param (a list or a range).' });
	});

	it('takes back what the server said of a range once any part of it is edited', () => {
		const draft = draftFor();
		draft.errors = { 'grid.fast': 'fast has 50,000 values, over the limit' };
		draft.clear('grid.fast.stop');
		expect(draft.errors).toEqual({});
	});
});
