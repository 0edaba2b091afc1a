/** What the Backtests and Sweeps views share: REST failures shown, refused starts, one followed stream. */

import { frameBatcher } from './frame-batcher';
import { ApiError } from './rest-api';
import type { FieldErrors } from './run-draft.svelte';
import type { SubscribeOptions } from './ws-client';

export const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** A start the server refused, as form errors: the field it blames ('' when none) with its message. */
export function refusalErrors(error: unknown): FieldErrors {
	const field = error instanceof ApiError && error.field ? error.field : '';
	return { [field]: messageOf(error) };
}

/**
 * Ask the server to start a run or a sweep: what it accepts is `shown`; what it refuses marks the
 * form's field it blames (until that field is edited) and nothing else happens; then `refresh`.
 */
export async function startOrMark<Accepted>(
	draft: { errors: FieldErrors },
	ask: () => Promise<Accepted>,
	shown: (accepted: Accepted) => void,
	refresh: () => Promise<void>
): Promise<void> {
	try {
		shown(await ask());
	} catch (error) {
		draft.errors = refusalErrors(error);
		return;
	}
	await refresh();
}

/** The last failure of a REST call other than a start, shown until the next call. */
export class Problem {
	message = $state<string | null>(null);

	/** Run `action`, keeping its failure's message. */
	attempt = async (action: () => Promise<void>): Promise<void> => {
		this.message = null;
		try {
			await action();
		} catch (error) {
			this.message = messageOf(error);
		}
	};
}

/**
 * Follows one stream at a time (the run or sweep shown) from its first event: a live one or a
 * replay of a stored one. Events arrive through `push` (register it for each event type) and are
 * handed to `take` once per animation frame, in frame-sized batches; `take` applies an event of
 * the stream shown and says whether it did. `onended` runs after a batch that ended that stream.
 */
export class StreamFollower<E extends { type: string }> {
	private unfollow: (() => void) | null = null;
	private readonly incoming;

	constructor(
		/** The client's `subscribe`: follows a stream, returns how to stop. */
		private readonly subscribe: (options: SubscribeOptions) => () => void,
		options: { take: (event: E) => boolean; terminal: readonly E['type'][]; onended: () => void }
	) {
		this.incoming = frameBatcher<E>((events) => {
			let ended = false;
			for (const event of events) {
				if (options.take(event)) ended ||= options.terminal.includes(event.type);
			}
			if (ended) options.onended();
		});
	}

	readonly push = (event: E): void => this.incoming.push(event);

	/** Stop following the previous stream (its queued events dropped) and follow this one. */
	follow(subscription: SubscribeOptions): void {
		this.stop();
		this.unfollow = this.subscribe(subscription);
	}

	stop(): void {
		this.incoming.cancel();
		this.unfollow?.();
		this.unfollow = null;
	}
}
