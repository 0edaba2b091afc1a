/** The longest a log line waits for the progress point that counts it. */
export const HOLD_MS = 1000;

/**
 * Shows log lines together with the progress point that counts them, as the notebook display
 * does: the engine logs each trade before the progress point that covers it, and the server
 * folds progress points (never log lines), so a stream's newest lines are often ahead of its
 * newest progress ("trade 92" beside "0 trades"). Once a run reports progress, its lines are
 * held until the next progress point or the run's end, or for HOLD_MS at most (a run that
 * reports progress rarely).
 */
export class LogHold<T> {
	private held: T[] = [];
	private timer: ReturnType<typeof setTimeout> | undefined;
	private counting = false;

	constructor(
		private readonly show: (lines: T[]) => void,
		private readonly holdMs = HOLD_MS
	) {}

	line(line: T): void {
		if (!this.counting) {
			this.show([line]); // no counts to disagree with yet
			return;
		}
		this.held.push(line);
		this.timer ??= setTimeout(() => this.release(), this.holdMs);
	}

	/** A progress point (or the run's end) was shown: the lines it counts go with it. */
	progress(): void {
		this.counting = true;
		this.release();
	}

	release(): void {
		clearTimeout(this.timer);
		this.timer = undefined;
		if (this.held.length === 0) return;
		const lines = this.held;
		this.held = [];
		this.show(lines);
	}

	/** Stop the timer of a view that is going away. */
	dispose(): void {
		clearTimeout(this.timer);
		this.timer = undefined;
	}
}
