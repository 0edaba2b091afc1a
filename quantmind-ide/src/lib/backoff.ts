/** Reconnection delays: exponential with a cap, jittered so many clients do not return at once. */

export interface BackoffOptions {
	/** Delay before the first retry, in ms. */
	initialDelayMs: number;
	/** Upper bound of any delay, in ms. */
	maxDelayMs: number;
	/** Growth per failed attempt. */
	factor: number;
	/** Share of the delay that is random: 0 = none, 1 = anywhere from 0 to the full delay. */
	jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = {
	initialDelayMs: 500,
	maxDelayMs: 15_000,
	factor: 2,
	jitter: 0.5
};

/** Delay before retry number `attempt` (0-based); `random` returns values in [0, 1). */
export function backoffDelay(
	attempt: number,
	options: BackoffOptions,
	random: () => number = Math.random
): number {
	const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * options.factor ** attempt);
	return Math.round(ceiling * (1 - options.jitter * random()));
}
