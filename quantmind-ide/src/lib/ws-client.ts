import { DEFAULT_BACKOFF, backoffDelay, type BackoffOptions } from './backoff';
import { EventSequencer } from './event-sequencer';
import {
	BATCH_SUBPROTOCOL,
	PROTOCOL_VERSION,
	SWEEP_TOPIC,
	TOPIC,
	SWEEP_KEY_PREFIX,
	sweepKey,
	parseServerFrame,
	type BacktestCancelledEvent,
	type BacktestCompleteEvent,
	type BacktestErrorEvent,
	type BacktestProgressEvent,
	type BacktestRequest,
	type BacktestStartEvent,
	type ClientMessage,
	type ConnectedMessage,
	type ErrorMessage,
	type LogEntryEvent,
	type PongMessage,
	type RunAccepted,
	type RunRecord,
	type ServerMessage,
	type StrategySpec,
	type StreamEvent,
	type SubscribedMessage,
	type SweepAccepted,
	type SweepCancelledEvent,
	type SweepCompleteEvent,
	type SweepErrorEvent,
	type SweepProgressEvent,
	type SweepRequest,
	type SweepStartEvent,
	type SweepSummary,
	type SweepTrialEvent,
	type SubscriptionTarget,
	type UnsubscribedMessage
} from './protocol';
import { RestApi, type RestAuth, type RunListFilter } from './rest-api';

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** A change of connection state; `attempt` counts retries since the last successful connect. */
export interface ConnectionStateChange<S extends ConnectionState = ConnectionState> {
	type: S;
	attempt: number;
	/** reconnecting: how long until the next attempt. */
	delayMs?: number;
	/** reconnecting/closed: why the previous socket closed. */
	code?: number;
	reason?: string;
}

/** Everything `client.on` can listen to: protocol events, control replies, connection states. */
export interface ClientEventMap {
	backtest_start: BacktestStartEvent;
	backtest_progress: BacktestProgressEvent;
	log_entry: LogEntryEvent;
	backtest_complete: BacktestCompleteEvent;
	backtest_error: BacktestErrorEvent;
	backtest_cancelled: BacktestCancelledEvent;
	sweep_start: SweepStartEvent;
	sweep_trial: SweepTrialEvent;
	sweep_progress: SweepProgressEvent;
	sweep_complete: SweepCompleteEvent;
	sweep_error: SweepErrorEvent;
	sweep_cancelled: SweepCancelledEvent;
	connected: ConnectedMessage;
	subscribed: SubscribedMessage;
	unsubscribed: UnsubscribedMessage;
	pong: PongMessage;
	/** Server error replies, frames the client could not understand (code `malformed_frame`), and
	 * a server protocol other than ours (code `protocol_mismatch`). */
	error: ErrorMessage;
	connecting: ConnectionStateChange<'connecting'>;
	open: ConnectionStateChange<'open'>;
	reconnecting: ConnectionStateChange<'reconnecting'>;
	closed: ConnectionStateChange<'closed'>;
}

export type ClientEventType = keyof ClientEventMap;
type Handler<T extends ClientEventType> = (message: ClientEventMap[T]) => void;

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocket;

export interface BacktestClientOptions extends RestAuth {
	/** Defaults to the global WebSocket (Node 20 has none: pass `ws`'s). */
	WebSocket?: WebSocketConstructor;
	fetch?: typeof fetch;
	backoff?: Partial<BackoffOptions>;
	/** A ping goes out this often; a connection that answers nothing for a whole interval is dead. */
	heartbeatIntervalMs?: number;
}

export interface SubscribeOptions {
	/** Follow one run; without it (and without sweepId), receive the live events of every run. */
	backtestId?: string;
	/** Follow one sweep's own stream (sweep_start, sweep_trial, ...). */
	sweepId?: string;
	/** Replay the stream's stored events after this seq (0 = from the start); defaults to the last one seen. */
	since?: number;
}

const SOCKET_OPEN = 1;
/** Our own close code for a connection the heartbeat found dead. */
const CLOSE_DEAD = 4000;
const ALL_RUNS = '';

/** `http://host/base/` -> `ws://host/base/ws?token=...` */
function webSocketUrl(baseUrl: URL, token: string | undefined): string {
	const url = new URL('ws', baseUrl);
	url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
	if (token) url.searchParams.set('token', token);
	return url.toString();
}

/** The Jupyter server's base URL as an absolute URL that ends in '/'. */
function normalizeBaseUrl(baseUrl: string): URL {
	const url = new URL(baseUrl, globalThis.location?.href);
	if (!url.pathname.endsWith('/')) url.pathname += '/';
	url.search = '';
	url.hash = '';
	return url;
}

/**
 * One connection to a qm-jupyter server: the `/ws` event stream with reconnection and resume,
 * and the backtest REST API with the same credentials.
 */
export class BacktestClient {
	private readonly api: RestApi;
	private readonly wsUrl: string;
	private readonly WebSocketCtor: WebSocketConstructor;
	private readonly backoff: BackoffOptions;
	private readonly heartbeatIntervalMs: number;
	private readonly handlers = new Map<ClientEventType, Set<Handler<ClientEventType>>>();
	private readonly sequencer = new EventSequencer();
	/** What to (re)subscribe on every connect: stream keys (run ids, `sweep:<id>`), or ALL_RUNS for the topic. */
	private readonly subscriptions = new Set<string>();

	private socket: WebSocket | null = null;
	private attempt = 0;
	private retryTimer: ReturnType<typeof setTimeout> | undefined;
	private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
	private heardSinceLastPing = true;
	private firstConnect: Promise<void> | undefined;
	private resolveFirstConnect: (() => void) | undefined;
	private rejectFirstConnect: ((error: Error) => void) | undefined;

	private currentState: ConnectionState = 'connecting';

	constructor(baseUrl: string, options: BacktestClientOptions = {}) {
		const base = normalizeBaseUrl(baseUrl);
		this.api = new RestApi(base, options, options.fetch);
		this.wsUrl = webSocketUrl(base, options.token);
		const ctor = options.WebSocket ?? globalThis.WebSocket;
		if (!ctor) throw new Error('No WebSocket implementation: pass options.WebSocket');
		this.WebSocketCtor = ctor;
		this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
		this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? 15_000;
	}

	get state(): ConnectionState {
		return this.currentState;
	}

	/** Start connecting (once); resolves when the server has said `connected` the first time. */
	connect(): Promise<void> {
		if (!this.firstConnect) {
			if (this.currentState === 'closed') return Promise.reject(new Error('client is closed'));
			this.firstConnect = new Promise((resolve, reject) => {
				this.resolveFirstConnect = resolve;
				this.rejectFirstConnect = reject;
			});
			this.openSocket();
		}
		return this.firstConnect;
	}

	on<T extends ClientEventType>(type: T, handler: Handler<T>): () => void {
		let set = this.handlers.get(type);
		if (!set) {
			set = new Set();
			this.handlers.set(type, set);
		}
		set.add(handler as Handler<ClientEventType>);
		return () => set.delete(handler as Handler<ClientEventType>);
	}

	/**
	 * Receive live events of every run, or follow one run or one sweep from `since`. Kept across
	 * reconnects (a followed stream resumes after the last event delivered). Returns the
	 * unsubscribe function.
	 */
	subscribe({ backtestId, sweepId, since }: SubscribeOptions = {}): () => void {
		const key = sweepId !== undefined ? sweepKey(sweepId) : (backtestId ?? ALL_RUNS);
		if (key !== ALL_RUNS) this.sequencer.follow(key, since ?? this.sequencer.cursor(key));
		this.subscriptions.add(key);
		this.sendSubscribe(key);
		return () => {
			if (!this.subscriptions.delete(key)) return;
			if (key !== ALL_RUNS) this.sequencer.unfollow(key);
			this.send({ type: 'unsubscribe', ...this.target(key) });
		};
	}

	runBacktest(request: BacktestRequest): Promise<RunAccepted> {
		return this.api.runBacktest(request);
	}

	cancel(backtestId: string): Promise<void> {
		return this.api.cancel(backtestId);
	}

	getRun(backtestId: string): Promise<RunRecord> {
		return this.api.getRun(backtestId);
	}

	listRuns(filter: RunListFilter = {}): Promise<RunRecord[]> {
		return this.api.listRuns(filter);
	}

	strategies(): Promise<StrategySpec[]> {
		return this.api.strategies();
	}

	runSweep(request: SweepRequest): Promise<SweepAccepted> {
		return this.api.runSweep(request);
	}

	cancelSweep(sweepId: string): Promise<void> {
		return this.api.cancelSweep(sweepId);
	}

	listSweeps(): Promise<SweepSummary[]> {
		return this.api.listSweeps();
	}

	/** Close for good: no reconnect after this. */
	close(): void {
		if (this.state === 'closed') return;
		clearTimeout(this.retryTimer);
		this.stopHeartbeat();
		if (this.socket) this.discardSocket(this.socket, 1000, 'client closed');
		this.socket = null;
		this.rejectFirstConnect?.(new Error('client closed before it connected'));
		this.setState({ type: 'closed', attempt: this.attempt });
	}

	// ---- socket lifecycle -----------------------------------------------------------------

	private openSocket(): void {
		this.setState({ type: 'connecting', attempt: this.attempt });
		// Batched framing: a busy run's events come a few hundred per message, not one each.
		const socket = new this.WebSocketCtor(this.wsUrl, [BATCH_SUBPROTOCOL]);
		this.socket = socket;
		socket.onmessage = (event) => this.handleFrame(event.data);
		socket.onclose = (event) => this.handleDrop(socket, event.code, event.reason);
		// A failed connect also fires close, which is where we react.
		socket.onerror = () => {};
	}

	private handleConnected(): void {
		this.attempt = 0;
		this.setState({ type: 'open', attempt: 0 });
		for (const key of this.subscriptions) {
			// Pending out-of-order events are dropped: the replay from the cursor brings them again.
			if (key !== ALL_RUNS) this.sequencer.follow(key, this.sequencer.cursor(key));
			this.sendSubscribe(key);
		}
		this.startHeartbeat();
		this.resolveFirstConnect?.();
		this.resolveFirstConnect = undefined;
		this.rejectFirstConnect = undefined;
	}

	private handleDrop(socket: WebSocket, code: number, reason: string): void {
		if (socket !== this.socket || this.state === 'closed') return;
		this.socket = null;
		this.stopHeartbeat();
		const delayMs = backoffDelay(this.attempt, this.backoff);
		this.attempt += 1;
		this.setState({ type: 'reconnecting', attempt: this.attempt, delayMs, code, reason });
		this.retryTimer = setTimeout(() => this.openSocket(), delayMs);
	}

	/** Stop listening to a socket and close it without waiting for its close handshake. */
	private discardSocket(socket: WebSocket, code: number, reason: string): void {
		socket.onmessage = null;
		socket.onclose = null;
		socket.close(code, reason);
	}

	private startHeartbeat(): void {
		this.heardSinceLastPing = true;
		this.heartbeatTimer = setInterval(() => {
			const socket = this.socket;
			if (!socket) return;
			if (!this.heardSinceLastPing) {
				// A dead peer may never finish a close handshake: reconnect without waiting for it.
				this.discardSocket(socket, CLOSE_DEAD, 'no reply to ping');
				this.handleDrop(socket, CLOSE_DEAD, 'no reply to ping');
				return;
			}
			this.heardSinceLastPing = false;
			this.send({ type: 'ping' });
		}, this.heartbeatIntervalMs);
	}

	private stopHeartbeat(): void {
		clearInterval(this.heartbeatTimer);
		this.heartbeatTimer = undefined;
	}

	// ---- frames ---------------------------------------------------------------------------

	private handleFrame(data: unknown): void {
		this.heardSinceLastPing = true;
		const messages = typeof data === 'string' ? parseServerFrame(data) : [null];
		for (const message of messages) this.handleMessage(message, data);
	}

	private handleMessage(message: ServerMessage | null, data: unknown): void {
		if (!message) {
			this.emit('error', {
				type: 'error',
				error: { code: 'malformed_frame', message: `ignored a frame that is not a protocol message: ${preview(data)}` }
			});
			return;
		}
		switch (message.type) {
			case 'connected':
				this.emit('connected', message);
				if (message.protocol !== PROTOCOL_VERSION) {
					// Carry on: a newer server may still understand us, but say why things may break.
					this.emit('error', {
						type: 'error',
						error: {
							code: 'protocol_mismatch',
							message: `server speaks protocol ${message.protocol}, this client ${PROTOCOL_VERSION}`
						}
					});
				}
				this.handleConnected();
				return;
			case 'subscribed':
			case 'unsubscribed':
			case 'pong':
			case 'error':
				this.emit(message.type, message as never);
				return;
			default:
				for (const event of this.sequencer.accept(message)) this.emitEvent(event);
		}
	}

	private emitEvent(event: StreamEvent): void {
		this.emit(event.type, event as never);
	}

	private emit<T extends ClientEventType>(type: T, message: ClientEventMap[T]): void {
		for (const handler of this.handlers.get(type) ?? []) {
			try {
				handler(message);
			} catch (error) {
				// One faulty handler must not stop the stream for the others.
				console.error(`qm ws-client: a ${type} handler threw`, error);
			}
		}
	}

	private setState(change: ConnectionStateChange): void {
		this.currentState = change.type;
		this.emit(change.type, change as never);
	}

	// ---- sending --------------------------------------------------------------------------

	private target(key: string): SubscriptionTarget {
		if (key === ALL_RUNS) return { topic: TOPIC };
		return key.startsWith(SWEEP_KEY_PREFIX)
			? { topic: SWEEP_TOPIC, sweep_id: key.slice(SWEEP_KEY_PREFIX.length) }
			: { topic: TOPIC, backtest_id: key };
	}

	private sendSubscribe(key: string): void {
		const since = key === ALL_RUNS ? undefined : this.sequencer.cursor(key);
		this.send({ type: 'subscribe', ...this.target(key), ...(since === undefined ? {} : { since }) });
	}

	/** Sends only once connected: subscriptions are (re)sent on every connect anyway. */
	private send(message: ClientMessage): void {
		if (this.currentState === 'open' && this.socket?.readyState === SOCKET_OPEN) {
			this.socket.send(JSON.stringify(message));
		}
	}
}

function preview(data: unknown): string {
	const text = typeof data === 'string' ? data : `<${typeof data} frame>`;
	return text.length > 80 ? `${text.slice(0, 80)}...` : text;
}

/** Connect to the qm-jupyter server at `baseUrl` (its base_url); resolves once connected. */
export async function createBacktestClient(
	baseUrl: string,
	options: BacktestClientOptions = {}
): Promise<BacktestClient> {
	const client = new BacktestClient(baseUrl, options);
	await client.connect();
	return client;
}
