import type { Objective, SweepTrialData } from './protocol';

/**
 * A sweep's best completed trials by its objective, best first (ties in arrival order), kept as
 * trials arrive: O(count) each, where ranking them all again on every frame grows with the sweep.
 */
export class TopTrials {
	private ranked: SweepTrialData[] = [];
	private readonly sign: number;

	constructor(
		objective: Objective,
		readonly count: number
	) {
		this.sign = objective.direction === 'minimize' ? -1 : 1;
	}

	/** The best trials so far; a new array whenever it changed. */
	get trials(): readonly SweepTrialData[] {
		return this.ranked;
	}

	/** Fold in a trial; returns whether the ranking changed. */
	add(trial: SweepTrialData): boolean {
		if (trial.status !== 'completed' || trial.objective == null) return false;
		const score = this.sign * trial.objective;
		let at = this.ranked.length;
		while (at > 0 && score > this.sign * this.ranked[at - 1].objective!) at -= 1;
		if (at >= this.count) return false;
		this.ranked = [...this.ranked.slice(0, at), trial, ...this.ranked.slice(at, this.count - 1)];
		return true;
	}
}
