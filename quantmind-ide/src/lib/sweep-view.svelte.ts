import { SweepHeatmap, type HeatmapAxes, type HeatmapData } from './heatmap';
import { TopTrials } from './top-trials';
import type {
	SweepCounts,
	SweepErrorData,
	SweepEvent,
	SweepStartData,
	SweepStatus,
	SweepSummary,
	SweepTrialData,
	TrialStatus
} from './protocol';

/** How many of the best trials the page lists. */
export const TOP_TRIAL_COUNT = 10;

const sameAxes = (a: HeatmapAxes, b: HeatmapAxes) => a.x === b.x && a.y === b.y && a.metric === b.metric;

/**
 * What the Sweeps page shows of one sweep, built only from its stream, so a live sweep and a
 * replay after a reload look the same. Trials are kept in a plain array (thousands of reactive
 * proxies would be slow); `trialCount` is the reactive signal that it grew.
 */
export class SweepView {
	status = $state<SweepStatus>('running');
	start = $state.raw<SweepStartData | null>(null);
	/** The server's latest counts (with trials running) and pace. */
	serverCounts = $state.raw<SweepCounts | null>(null);
	etaSeconds = $state<number | null>(null);
	elapsedSeconds = $state<number | null>(null);
	error = $state.raw<SweepErrorData | null>(null);
	trialCount = $state(0);
	/** The best completed trials so far by the objective, best first. */
	top = $state.raw<readonly SweepTrialData[]>([]);
	readonly trials: SweepTrialData[] = [];
	private ranking: TopTrials | null = null;
	private readonly ended: Record<TrialStatus, number> = { completed: 0, failed: 0, cancelled: 0, skipped: 0 };
	private heatmap: SweepHeatmap | null = null;
	private folded = 0;

	constructor(
		readonly sweepId: string,
		/** What the list said of it, shown until its stream replays. */
		readonly summary: Pick<SweepSummary, 'strategy' | 'total_trials'> | null = null
	) {}

	get finished(): boolean {
		return this.status !== 'running';
	}

	/** Counts from the trials seen, so they always agree with the heatmap and the table. */
	get counts(): SweepCounts {
		return {
			total: this.start?.total_trials ?? this.summary?.total_trials ?? 0,
			...this.ended,
			running: this.finished ? 0 : (this.serverCounts?.running ?? 0)
		};
	}

	apply(event: SweepEvent): void {
		switch (event.type) {
			case 'sweep_start':
				this.start = event.data;
				this.ranking = new TopTrials(event.data.objective, TOP_TRIAL_COUNT);
				return;
			case 'sweep_trial':
				this.trials.push(event.data);
				this.ended[event.data.status] += 1;
				if (this.ranking?.add(event.data)) this.top = this.ranking.trials;
				this.trialCount = this.trials.length;
				return;
			case 'sweep_progress':
				this.serverCounts = event.data.counts;
				this.etaSeconds = event.data.eta_seconds;
				this.elapsedSeconds = event.data.elapsed_seconds;
				return;
			case 'sweep_complete':
			case 'sweep_cancelled':
				this.status = event.type === 'sweep_complete' ? 'completed' : 'cancelled';
				this.elapsedSeconds = event.data.duration;
				this.etaSeconds = null;
				return;
			case 'sweep_error':
				this.status = 'failed';
				this.error = event.data;
				this.etaSeconds = null;
				return;
		}
	}

	/** The heatmap over `axes`: built once per choice of axes, then fed only the trials since. */
	heatmapOver(axes: HeatmapAxes): HeatmapData | null {
		if (!this.start) return null;
		if (!this.heatmap || !sameAxes(this.heatmap.axes, axes)) {
			this.heatmap = new SweepHeatmap(this.start.grid, axes, this.start.objective);
			this.folded = 0;
		}
		for (; this.folded < this.trials.length; this.folded++) this.heatmap.add(this.trials[this.folded]);
		return this.heatmap.data();
	}
}
