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
}

export type LogLevel = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR' | 'CRITICAL';

export interface LogEntryData {
	level: LogLevel;
	message: string;
	module: string;
	timestamp: string;
}

/** Undefined metrics (e.g. Sharpe of a flat curve) are null, never NaN. */
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

// ---- control frames -----------------------------------------------------------------------

/** Which stream a subscription covers: every run's live events, or one run from `since`. */
export interface SubscriptionTarget {
	topic: typeof TOPIC;
	backtest_id?: string;
}

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

export type ServerMessage = BacktestEvent | ControlMessage;

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
	if (EVENT_TYPE_SET.has(value.type)) {
		const wellFormed =
			typeof value.backtest_id === 'string' &&
			Number.isInteger(value.seq) &&
			(value.seq as number) >= 1 &&
			isRecord(value.data);
		return wellFormed ? (value as unknown as BacktestEvent) : null;
	}
	if (value.type === 'error') {
		return isRecord(value.error) ? (value as unknown as ErrorMessage) : null;
	}
	return CONTROL_TYPES.has(value.type) ? (value as unknown as ControlMessage) : null;
}
