import { describe, expect, it } from 'vitest';
import type { Objective, SweepTrialData } from './protocol';
import { TopTrials } from './top-trials';

const MAXIMIZE: Objective = { metric: 'sharpe_ratio', direction: 'maximize' };
const MINIMIZE: Objective = { metric: 'max_drawdown', direction: 'minimize' };

function trial(fast: number, objective: number | null, status: SweepTrialData['status'] = 'completed'): SweepTrialData {
	return { backtest_id: `t${fast}`, params: { fast }, status, metrics: null, objective, error: null, worker: null, attempt: 1 };
}

const ranked = (top: TopTrials) => top.trials.map((t) => t.params.fast);

describe('TopTrials', () => {
	it('keeps the best completed trials by the objective, best first, as they arrive', () => {
		const top = new TopTrials(MAXIMIZE, 3);
		const changes = [trial(5, 1), trial(10, 3), trial(15, null, 'failed'), trial(20, 2), trial(25, null), trial(30, 0.5), trial(35, 4)].map((t) =>
			top.add(t)
		);
		expect(ranked(top)).toEqual([35, 10, 20]);
		// A failed trial, a null objective, and one below the top 3 change nothing.
		expect(changes).toEqual([true, true, false, true, false, false, true]);
	});

	it('ranks a minimized objective by its smallest value', () => {
		const top = new TopTrials(MINIMIZE, 2);
		[trial(5, 0.3), trial(10, 0.1), trial(15, 0.2), trial(20, 0.4)].forEach((t) => top.add(t));
		expect(ranked(top)).toEqual([10, 15]);
	});

	it('keeps ties in arrival order, as a stable sort would', () => {
		const top = new TopTrials(MAXIMIZE, 3);
		[trial(5, 1), trial(10, 2), trial(15, 1), trial(20, 2)].forEach((t) => top.add(t));
		expect(ranked(top)).toEqual([10, 20, 5]);
	});

	it('gives a new array when the ranking changes and the same one when it does not', () => {
		const top = new TopTrials(MAXIMIZE, 1);
		top.add(trial(5, 2));
		const before = top.trials;
		top.add(trial(10, 1));
		expect(top.trials).toBe(before);
		top.add(trial(15, 3));
		expect(top.trials).not.toBe(before);
		expect(ranked(top)).toEqual([15]);
	});
});
