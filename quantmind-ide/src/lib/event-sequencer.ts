import { streamKey, type StreamEvent } from './protocol';

/**
 * Turns the events that arrive (replays, live frames, repeats after a reconnect) into each
 * event exactly once, in seq order, per stream (a run's, or a sweep's keyed `sweep:<id>`).
 *
 * A followed stream (one subscribed by id) is delivered strictly in order from its cursor: an
 * early event waits until the ones before it arrive, so a live frame that overtakes a replay
 * cannot cause a gap. Other runs (seen only through the all-runs topic) are delivered as they
 * come, minus repeats, since nothing will fill their gaps.
 */
export class EventSequencer {
	private readonly lastSeq = new Map<string, number>();
	private readonly followed = new Set<string>();
	private readonly pending = new Map<string, Map<number, StreamEvent>>();

	/** Deliver `backtestId` in order after `since`, replacing any earlier cursor. */
	follow(backtestId: string, since: number): void {
		this.followed.add(backtestId);
		this.lastSeq.set(backtestId, since);
		this.pending.delete(backtestId);
	}

	unfollow(backtestId: string): void {
		this.followed.delete(backtestId);
		this.pending.delete(backtestId);
	}

	/** The seq of the last event delivered for this run (0 when none). */
	cursor(backtestId: string): number {
		return this.lastSeq.get(backtestId) ?? 0;
	}

	/** The events that may be handed out now that `event` arrived, in order. */
	accept(event: StreamEvent): StreamEvent[] {
		const id = streamKey(event);
		const last = this.cursor(id);
		if (event.seq <= last) return [];
		if (!this.followed.has(id)) {
			this.lastSeq.set(id, event.seq);
			return [event];
		}
		if (event.seq > last + 1) {
			this.pendingOf(id).set(event.seq, event);
			return [];
		}
		const ready = [event];
		const waiting = this.pending.get(id);
		let next = event.seq + 1;
		while (waiting?.has(next)) {
			ready.push(waiting.get(next)!);
			waiting.delete(next);
			next += 1;
		}
		this.lastSeq.set(id, next - 1);
		return ready;
	}

	private pendingOf(backtestId: string): Map<number, StreamEvent> {
		let waiting = this.pending.get(backtestId);
		if (!waiting) {
			waiting = new Map();
			this.pending.set(backtestId, waiting);
		}
		return waiting;
	}
}
