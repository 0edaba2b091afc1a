import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff';

const options = { initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0.5 };

describe('backoffDelay', () => {
	it('doubles per attempt up to the cap when there is no randomness', () => {
		const delays = [0, 1, 2, 3, 4, 5].map((attempt) => backoffDelay(attempt, options, () => 0));
		expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
	});

	it('takes off at most the jitter share of the delay', () => {
		expect(backoffDelay(3, options, () => 0.999)).toBe(400);
		expect(backoffDelay(10, options, () => 0.5)).toBe(750);
	});
});
