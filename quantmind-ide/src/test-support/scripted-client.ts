/** A stand-in for BacktestClient whose events the test emits by hand. */
import type { RunnerClient } from '../lib/components/BacktestRunner.svelte';
import type { SweepsClient } from '../lib/components/SweepsPage.svelte';
import type {
	BacktestEvent,
	BacktestRequest,
	RunAccepted,
	RunRecord,
	StrategySpec,
	SweepAccepted,
	SweepEvent,
	SweepRequest,
	SweepSummary
} from '../lib/protocol';
import type { RunListFilter } from '../lib/rest-api';
import type {
	ClientEventMap,
	ClientEventType,
	ConnectionState,
	SubscribeOptions
} from '../lib/ws-client';
import { STRATEGIES } from './fixtures';

type AnyHandler = (message: never) => void;

export class ScriptedClient implements RunnerClient, SweepsClient {
	state: ConnectionState = 'open';
	strategyList: StrategySpec[] = STRATEGIES;
	runs: RunRecord[] = [];
	/** What runBacktest answers, or throws. */
	accepted: RunAccepted | Error = { backtest_id: 'run-1', status: 'running' };
	readonly requests: BacktestRequest[] = [];
	readonly subscriptions: SubscribeOptions[] = [];
	readonly unsubscriptions: SubscribeOptions[] = [];
	readonly cancelled: string[] = [];
	/** The filter of every `listRuns` call. */
	readonly listFilters: RunListFilter[] = [];
	sweeps: SweepSummary[] = [];
	sweepAccepted: SweepAccepted | Error = { sweep_id: 'sweep-1', status: 'running', total_trials: 6 };
	readonly sweepRequests: SweepRequest[] = [];
	readonly cancelledSweeps: string[] = [];
	private readonly handlers = new Map<ClientEventType, Set<AnyHandler>>();

	on<T extends ClientEventType>(type: T, handler: (message: ClientEventMap[T]) => void): () => void {
		const set = this.handlers.get(type) ?? new Set();
		this.handlers.set(type, set);
		set.add(handler as AnyHandler);
		return () => set.delete(handler as AnyHandler);
	}

	emit<T extends ClientEventType>(type: T, message: ClientEventMap[T]): void {
		for (const handler of this.handlers.get(type) ?? []) (handler as (m: ClientEventMap[T]) => void)(message);
	}

	emitEvents(events: (BacktestEvent | SweepEvent)[]): void {
		for (const event of events) this.emit(event.type, event as never);
	}

	/** Announce a connection state as the real client would. */
	setState(type: ConnectionState): void {
		this.state = type;
		this.emit(type, { type, attempt: 0 } as never);
	}

	subscribe(options: SubscribeOptions = {}): () => void {
		this.subscriptions.push(options);
		return () => this.unsubscriptions.push(options);
	}

	async runBacktest(request: BacktestRequest): Promise<RunAccepted> {
		this.requests.push(request);
		if (this.accepted instanceof Error) throw this.accepted;
		return this.accepted;
	}

	async cancel(backtestId: string): Promise<void> {
		this.cancelled.push(backtestId);
	}

	async getRun(backtestId: string): Promise<RunRecord> {
		const run = this.runs.find((r) => r.backtest_id === backtestId);
		if (!run) throw new Error(`no run ${backtestId}`);
		return run;
	}

	async listRuns(filter: RunListFilter = {}): Promise<RunRecord[]> {
		this.listFilters.push(filter);
		if (filter.sweepId === undefined) return this.runs;
		const sweepId = filter.sweepId === 'none' ? null : filter.sweepId;
		return this.runs.filter((run) => (run.sweep_id ?? null) === sweepId);
	}

	async runSweep(request: SweepRequest): Promise<SweepAccepted> {
		this.sweepRequests.push(request);
		if (this.sweepAccepted instanceof Error) throw this.sweepAccepted;
		return this.sweepAccepted;
	}

	async cancelSweep(sweepId: string): Promise<void> {
		this.cancelledSweeps.push(sweepId);
	}

	async listSweeps(): Promise<SweepSummary[]> {
		return this.sweeps;
	}

	async strategies(): Promise<StrategySpec[]> {
		return this.strategyList;
	}
}
