/**
 * Wire protocol version 1 of the qm-jupyter server: the REST bodies and every WebSocket frame.
 * Field names are the server's, so they stay snake_case.
 */

export const PROTOCOL_VERSION = 1;
export const TOPIC = 'backtest';
/**
 * The /ws subprotocol of batched framing: each server message is a JSON array of protocol
 * messages, in order, so a busy run's events arrive a few hundred per message.
 */
export const BATCH_SUBPROTOCOL = 'qm.batch';

export type RunStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export type DataSource =
	| { path: string }
	| { sample: 'gbm'; bars: number; seed?: number; freq?: string };

export type ParamValue = number | string | boolean;

export interface BacktestRequest {
	strategy: string;
	params: Record<string, ParamValue>;
	data: DataSource;
	initial_balance?: number;
	commission?: number;
	/** null: inferred from the bars' spacing. */
	periods_per_year?: number | null;
	/** Posting the same id again returns the same run instead of starting another. */
	client_request_id?: string;
}

// ---- event payloads -----------------------------------------------------------------------

export interface BacktestStartData {
	strategy: string;
	params: Record<string, ParamValue>;
	data: DataSource;
	initial_balance: number;
	commission: number;
	total_bars: number;
	first_bar_time: string | null;
	last_bar_time: string | null;
}

export interface BacktestProgressData {
	progress: number;
	bars_processed: number;
	total_bars: number;
	trades_count: number;
	pnl: number | null;
	equity: number | null;
	status: string;
	/** ISO time of the last bar processed (servers from issue 16 on). */
	time?: string | null;
	/** That bar's close. */
	price?: number | null;
}

export type LogLevel = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR' | 'CRITICAL';

export interface LogEntryData {
	level: LogLevel;
	message: string;
	module: string;
	timestamp: string;
}

/** Undefined metrics (e.g. Sharpe of a flat curve) are null, never NaN. */
/** A statistic on the wire: a number, an ISO 8601 time (Start, End), or null when undefined. */
export type StatValue = number | string | null;

export interface BacktestCompleteData {
	final_balance: number;
	total_return: number | null;
	total_trades: number;
	win_rate: number | null;
	sharpe_ratio: number | null;
	max_drawdown: number | null;
	bars: number;
	duration: number;
	/** Runs of the server: up to 1,000 `[ISO time, equity]` points (each column's low and high). */
	equity_curve?: [string, number][];
	/** The run's chart, reduced by the server to at most ~1,000 buckets and 1,000 trades. */
	chart?: RunChartPayload;
	/**
	 * Every statistic of the run (backtesting.py's `Backtest.run()`, then qm's extras) under
	 * snake_case keys, in the engine's order: `$lib/stats` names and formats them. Durations are
	 * seconds. Absent from listings and from runs stored before statistics existed.
	 */
	stats?: Record<string, StatValue>;
}

/** One closed trade as the chart marks it; `size` < 0 is a short. */
export interface ChartTrade {
	entry_time: string;
	exit_time: string | null;
	entry_price: number;
	exit_price: number | null;
	size: number;
	pnl: number | null;
	exit_reason?: string | null;
}

/** Parallel columns, one entry per bucket; `drawdown` is the deepest fraction (<= 0) in it. */
export interface RunChartPayload {
	time: string[];
	open?: number[] | null;
	high?: number[] | null;
	low?: number[] | null;
	close?: number[] | null;
	equity: number[];
	drawdown: number[];
	trades: ChartTrade[];
	/** All the run's trades; `trades` holds at most ~1,000 of them. */
	trades_total: number;
}

export interface BacktestErrorData {
	error: string;
	error_type: string;
	traceback: string | null;
}

export interface BacktestCancelledData {
	bars_processed: number;
}

// ---- events -------------------------------------------------------------------------------

interface EventOf<T extends string, D> {
	type: T;
	topic: typeof TOPIC;
	backtest_id: string;
	/** Starts at 1 for each run and is contiguous up to its terminal event. */
	seq: number;
	/** ISO 8601 UTC. */
	timestamp: string;
	data: D;
}

export type BacktestStartEvent = EventOf<'backtest_start', BacktestStartData>;
export type BacktestProgressEvent = EventOf<'backtest_progress', BacktestProgressData>;
export type LogEntryEvent = EventOf<'log_entry', LogEntryData>;
export type BacktestCompleteEvent = EventOf<'backtest_complete', BacktestCompleteData>;
export type BacktestErrorEvent = EventOf<'backtest_error', BacktestErrorData>;
export type BacktestCancelledEvent = EventOf<'backtest_cancelled', BacktestCancelledData>;

export type BacktestEvent =
	| BacktestStartEvent
	| BacktestProgressEvent
	| LogEntryEvent
	| BacktestCompleteEvent
	| BacktestErrorEvent
	| BacktestCancelledEvent;

export type BacktestEventType = BacktestEvent['type'];

export const EVENT_TYPES: readonly BacktestEventType[] = [
	'backtest_start',
	'backtest_progress',
	'log_entry',
	'backtest_complete',
	'backtest_error',
	'backtest_cancelled'
];

export const TERMINAL_EVENT_TYPES: readonly BacktestEventType[] = [
	'backtest_complete',
	'backtest_error',
	'backtest_cancelled'
];

// ---- sweeps -------------------------------------------------------------------------------

export const SWEEP_TOPIC = 'sweep';

/** A swept param: its values, or an inclusive range (stop counts when it lands on a step). */
export type GridAxis = ParamValue[] | { start: number; stop: number; step: number };
export type SweepMethod = 'grid' | 'random' | 'tpe';
export type ObjectiveDirection = 'maximize' | 'minimize';
/** The numeric metrics of `backtest_complete` a sweep can optimize. */
export const METRIC_KEYS = [
	'sharpe_ratio',
	'total_return',
	'final_balance',
	'max_drawdown',
	'win_rate',
	'total_trades'
] as const;
export type MetricKey = (typeof METRIC_KEYS)[number];

export interface SweepRequest {
	strategy: string;
	data: DataSource;
	grid: Record<string, GridAxis>;
	/** Fixed values of the params that are not swept. */
	params?: Record<string, ParamValue>;
	maximize?: MetricKey;
	minimize?: MetricKey;
	method?: SweepMethod;
	max_trials?: number;
	seed?: number;
	initial_balance?: number;
	commission?: number;
	periods_per_year?: number | null;
	client_request_id?: string;
}

export interface SweepAccepted {
	sweep_id: string;
	status: SweepStatus;
	total_trials: number;
}

export type SweepStatus = 'running' | 'completed' | 'failed' | 'cancelled';
export type TrialStatus = 'completed' | 'failed' | 'cancelled' | 'skipped';

export interface Objective {
	metric: MetricKey;
	direction: ObjectiveDirection;
}

export interface SweepCounts {
	total: number;
	completed: number;
	failed: number;
	cancelled: number;
	skipped: number;
	running?: number;
}

/** One ended trial; a skipped one (the strategy refused its params) has no backtest_id. */
export interface SweepTrialData {
	backtest_id: string | null;
	params: Record<string, ParamValue>;
	status: TrialStatus;
	metrics: Partial<BacktestCompleteData> | null;
	objective: number | null;
	error: string | null;
	worker: string | null;
	attempt: number;
}

export interface SweepBest {
	backtest_id: string;
	params: Record<string, ParamValue>;
	metrics: Partial<BacktestCompleteData>;
	objective: number;
}

export interface SweepStartData {
	strategy: string;
	method: SweepMethod;
	total_trials: number;
	/** Each swept param's values, ranges expanded. */
	grid: Record<string, ParamValue[]>;
	params: Record<string, ParamValue>;
	objective: Objective;
	seed: number;
	data: DataSource;
}

export interface SweepProgressData {
	counts: SweepCounts;
	best: SweepBest | null;
	elapsed_seconds: number;
	eta_seconds: number | null;
	workers: number;
}

export interface SweepCompleteData {
	counts: SweepCounts;
	best: SweepBest | null;
	duration: number;
}

export interface SweepErrorData {
	error: string;
	error_type: string;
	counts: SweepCounts;
	best?: SweepBest | null;
}

interface SweepEventOf<T extends string, D> {
	type: T;
	topic: typeof SWEEP_TOPIC;
	sweep_id: string;
	/** Contiguous per sweep from 1, like a run's. */
	seq: number;
	timestamp: string;
	data: D;
}

export type SweepStartEvent = SweepEventOf<'sweep_start', SweepStartData>;
export type SweepTrialEvent = SweepEventOf<'sweep_trial', SweepTrialData>;
export type SweepProgressEvent = SweepEventOf<'sweep_progress', SweepProgressData>;
export type SweepCompleteEvent = SweepEventOf<'sweep_complete', SweepCompleteData>;
export type SweepErrorEvent = SweepEventOf<'sweep_error', SweepErrorData>;
export type SweepCancelledEvent = SweepEventOf<'sweep_cancelled', SweepCompleteData>;

export type SweepEvent =
	| SweepStartEvent
	| SweepTrialEvent
	| SweepProgressEvent
	| SweepCompleteEvent
	| SweepErrorEvent
	| SweepCancelledEvent;

export const SWEEP_EVENT_TYPES: readonly SweepEvent['type'][] = [
	'sweep_start',
	'sweep_trial',
	'sweep_progress',
	'sweep_complete',
	'sweep_error',
	'sweep_cancelled'
];

export const SWEEP_TERMINAL_EVENT_TYPES: readonly SweepEvent['type'][] = ['sweep_complete', 'sweep_error', 'sweep_cancelled'];

/** Any numbered event of a run's or a sweep's stream. */
export type StreamEvent = BacktestEvent | SweepEvent;

/** The stream an event belongs to: a run's id, or `sweep:` and the sweep's id (as the server keys them). */
export function streamKey(event: StreamEvent): string {
	return event.topic === SWEEP_TOPIC ? sweepKey(event.sweep_id) : event.backtest_id;
}

export const SWEEP_KEY_PREFIX = 'sweep:';
export const sweepKey = (sweepId: string) => SWEEP_KEY_PREFIX + sweepId;

/** `GET /api/v1/sweep` entries (counts and best as of the latest progress). */
export interface SweepSummary {
	sweep_id: string;
	status: SweepStatus;
	strategy: string;
	data: DataSource;
	grid: Record<string, ParamValue[]>;
	params: Record<string, ParamValue>;
	method: SweepMethod;
	seed: number;
	objective: Objective;
	total_trials: number;
	counts: SweepCounts | null;
	best: SweepBest | null;
	created_at: string;
	finished_at: string | null;
	last_seq: number;
}

// ---- control frames -----------------------------------------------------------------------

/** Which stream a subscription covers: every run's live events, one run, or one sweep. */
export type SubscriptionTarget =
	| { topic: typeof TOPIC; backtest_id?: string }
	| { topic: typeof SWEEP_TOPIC; sweep_id: string };

export interface ConnectedMessage {
	type: 'connected';
	protocol: number;
}
export type SubscribedMessage = { type: 'subscribed' } & SubscriptionTarget;
export type UnsubscribedMessage = { type: 'unsubscribed' } & SubscriptionTarget;
export interface PongMessage {
	type: 'pong';
}
export interface ErrorMessage {
	type: 'error';
	error: { code: string; message: string };
}

export type ControlMessage =
	| ConnectedMessage
	| SubscribedMessage
	| UnsubscribedMessage
	| PongMessage
	| ErrorMessage;

export type ServerMessage = StreamEvent | ControlMessage;

export type ClientMessage =
	| ({ type: 'subscribe'; since?: number } & SubscriptionTarget)
	| ({ type: 'unsubscribe' } & SubscriptionTarget)
	| { type: 'ping' };

// ---- REST bodies --------------------------------------------------------------------------

export interface RunAccepted {
	backtest_id: string;
	status: RunStatus;
}

/**
 * What a stored run was asked to do: a server run's validated request (defaults filled in), or
 * what a notebook kernel said of its run, which may be nothing or a DataFrame by its size.
 */
export type StoredRequest = Partial<Omit<BacktestRequest, 'data'>> & {
	data?: DataSource | { dataframe: { rows: number } };
};

export interface RunRecord {
	backtest_id: string;
	status: RunStatus;
	/** Who started the run: the REST API ("server") or a notebook kernel. */
	origin: string;
	request: StoredRequest;
	client_request_id: string | null;
	created_at: string;
	started_at: string | null;
	finished_at: string | null;
	progress: BacktestProgressData | null;
	result: BacktestCompleteData | null;
	error: BacktestErrorData | null;
	last_seq: number;
	/** The sweep this run is a trial of. */
	sweep_id?: string | null;
}

export interface StrategyParamSpec {
	type: 'int' | 'float' | 'bool' | 'str';
	default: ParamValue;
	min?: number;
	max?: number;
	description?: string;
}

export interface StrategySpec {
	name: string;
	description: string;
	params: Record<string, StrategyParamSpec>;
}

// ---- parsing ------------------------------------------------------------------------------

const CONTROL_TYPES = new Set(['connected', 'subscribed', 'unsubscribed', 'pong', 'error']);
const EVENT_TYPE_SET = new Set<string>(EVENT_TYPES);
const SWEEP_EVENT_TYPE_SET = new Set<string>(SWEEP_EVENT_TYPES);

function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The server messages in a text frame: one, or an array of them (batched framing). Each is null
 * where the frame holds something that is not a protocol message.
 */
export function parseServerFrame(frame: string): (ServerMessage | null)[] {
	let value: unknown;
	try {
		value = JSON.parse(frame);
	} catch {
		return [null];
	}
	return Array.isArray(value) ? value.map(asServerMessage) : [asServerMessage(value)];
}

function asServerMessage(value: unknown): ServerMessage | null {
	if (!isRecord(value) || typeof value.type !== 'string') return null;
	const idField = EVENT_TYPE_SET.has(value.type) ? 'backtest_id' : SWEEP_EVENT_TYPE_SET.has(value.type) ? 'sweep_id' : null;
	if (idField) {
		const wellFormed =
			typeof value[idField] === 'string' &&
			Number.isInteger(value.seq) &&
			(value.seq as number) >= 1 &&
			isRecord(value.data);
		return wellFormed ? (value as unknown as StreamEvent) : null;
	}
	if (value.type === 'error') {
		return isRecord(value.error) ? (value as unknown as ErrorMessage) : null;
	}
	return CONTROL_TYPES.has(value.type) ? (value as unknown as ControlMessage) : null;
}
