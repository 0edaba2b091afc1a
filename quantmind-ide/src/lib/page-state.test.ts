import { describe, expect, it } from 'vitest';
import { messageOf, Problem, refusalErrors, startOrMark } from './page-state.svelte';
import { ApiError } from './rest-api';

describe('refusalErrors', () => {
	it("marks the field the server blames, else the form as a whole (''), with its message", () => {
		expect(refusalErrors(new ApiError(400, 'fast must be < slow', 'params.fast'))).toEqual({ 'params.fast': 'fast must be < slow' });
		expect(refusalErrors(new ApiError(429, 'too many runs'))).toEqual({ '': 'too many runs' });
		expect(refusalErrors('offline')).toEqual({ '': 'offline' });
		expect(messageOf(new Error('boom'))).toBe('boom');
	});
});

describe('startOrMark', () => {
	it('shows what the server accepts, then refreshes the list', async () => {
		const draft = { errors: { '': 'old' } };
		const calls: string[] = [];
		await startOrMark(
			draft,
			async () => 'run-1',
			(id) => calls.push(`show ${id}`),
			async () => void calls.push('refresh')
		);
		expect(calls).toEqual(['show run-1', 'refresh']);
	});

	it('marks the form with a refusal and neither shows nor refreshes', async () => {
		const draft = { errors: {} };
		const calls: string[] = [];
		await startOrMark(
			draft,
			async () => {
				throw new ApiError(400, 'no such file', 'data.path');
			},
			() => calls.push('show'),
			async () => void calls.push('refresh')
		);
		expect(draft.errors).toEqual({ 'data.path': 'no such file' });
		expect(calls).toEqual([]);
	});
});

describe('Problem', () => {
	it("keeps a failed call's message until the next call", async () => {
		const problem = new Problem();
		await problem.attempt(async () => {
			throw new Error('HTTP 500');
		});
		expect(problem.message).toBe('HTTP 500');
		await problem.attempt(async () => {});
		expect(problem.message).toBeNull();
	});
});
