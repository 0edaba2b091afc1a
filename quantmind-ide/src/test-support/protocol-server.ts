/**
 * A real HTTP + WebSocket server that speaks wire protocol version 1 from scripted events, for
 * testing the client in Node before (and without) the Python server. It stores every published
 * event, replays `since` like the real server (in one array with batched framing, which `ws`
 * selects when offered) and can misbehave on request: cut sockets, go silent, send junk.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import {
	BATCH_SUBPROTOCOL,
	sweepKey,
	type BacktestEvent,
	type BacktestEventType,
	type ClientMessage,
	type RunRecord,
	type StreamEvent,
	type SweepEvent
} from '../lib/protocol';
import { STRATEGIES } from './fixtures';

export const TEST_TOKEN = 'test-token';
export const TEST_XSRF = 'xsrf-value';
/** The same odd base_url that pytest-jupyter uses, to catch URL-joining mistakes. */
export const TEST_BASE_PATH = '/a%40b/';

interface Connection {
	socket: WebSocket;
	allRuns: boolean;
	/** Followed streams: run ids and `sweep:<id>` keys. */
	runs: Set<string>;
	received: ClientMessage[];
}

export interface RecordedRequest {
	method: string;
	path: string;
	/** The query, with its '?' (empty without one). */
	search: string;
	headers: IncomingMessage['headers'];
	body: string;
}

export class ProtocolServer {
	/** Every stream's events by its key (a run's id, or `sweep:<id>`). */
	readonly events = new Map<string, StreamEvent[]>();
	readonly connections = new Set<Connection>();
	readonly requests: RecordedRequest[] = [];
	/** Every connection ever accepted, including closed ones. */
	connectionCount = 0;
	private silent = false;
	private readonly rawSockets = new Set<Socket>();

	private constructor(
		private readonly http: Server,
		private readonly wss: WebSocketServer
	) {}

	/** Start listening; `port` 0 picks a free one (pass an old port to come back after stop()). */
	static async start(port = 0): Promise<ProtocolServer> {
		const wss = new WebSocketServer({ noServer: true });
		let server!: ProtocolServer;
		const http = createServer((req, res) => server.handleHttp(req, res));
		server = new ProtocolServer(http, wss);
		http.on('connection', (socket) => {
			server.rawSockets.add(socket);
			socket.on('close', () => server.rawSockets.delete(socket));
		});
		http.on('upgrade', (req, socket, head) => {
			const url = new URL(req.url ?? '/', 'http://x');
			if (url.pathname !== `${TEST_BASE_PATH}ws` || url.searchParams.get('token') !== TEST_TOKEN) {
				socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
				return;
			}
			wss.handleUpgrade(req, socket, head, (ws) => server.accept(ws));
		});
		await new Promise<void>((resolve) => http.listen(port, '127.0.0.1', resolve));
		return server;
	}

	get port(): number {
		return (this.http.address() as AddressInfo).port;
	}

	/** The base URL a client should be given. */
	get baseUrl(): string {
		return `http://127.0.0.1:${this.port}${TEST_BASE_PATH}`;
	}

	/** Store the run's next event and send it to every subscriber of that run or of all runs. */
	publish<T extends BacktestEventType>(
		backtestId: string,
		type: T,
		data: Extract<BacktestEvent, { type: T }>['data']
	): BacktestEvent {
		return this.append(backtestId, { type, topic: 'backtest', backtest_id: backtestId, data }) as BacktestEvent;
	}

	/** Store a sweep's next event on its own stream; the all-runs topic sees it too. */
	publishSweep<T extends SweepEvent['type']>(
		sweepId: string,
		type: T,
		data: Extract<SweepEvent, { type: T }>['data']
	): SweepEvent {
		return this.append(sweepKey(sweepId), { type, topic: 'sweep', sweep_id: sweepId, data }) as SweepEvent;
	}

	private append(key: string, fields: Record<string, unknown>): StreamEvent {
		const stored = this.events.get(key) ?? [];
		this.events.set(key, stored);
		const event = { ...fields, seq: stored.length + 1, timestamp: new Date().toISOString() } as StreamEvent;
		stored.push(event);
		for (const connection of this.connections) {
			if (connection.allRuns || connection.runs.has(key)) this.sendJson(connection, event);
		}
		return event;
	}

	/** Publish `count` log lines numbered from `from`. */
	publishLogs(backtestId: string, count: number, from = 1): void {
		for (let i = from; i < from + count; i++) {
			this.publish(backtestId, 'log_entry', {
				level: 'INFO',
				message: `line ${i}`,
				module: 'test',
				timestamp: new Date().toISOString()
			});
		}
	}

	/** Send a frame as-is to every open connection. */
	sendRaw(frame: string | Buffer): void {
		for (const connection of this.connections) connection.socket.send(frame);
	}

	/** Close every socket from the server side, like a dropped network or a slow-client cut. */
	cutAll(code?: number, reason?: string): void {
		for (const connection of this.connections) {
			if (code === undefined) connection.socket.terminate();
			else connection.socket.close(code, reason);
		}
	}

	/** Stop answering anything (pings included) while keeping sockets open. */
	goSilent(): void {
		this.silent = true;
	}

	/** Everything clients sent, oldest first. */
	receivedMessages(): ClientMessage[] {
		return [...this.connections].flatMap((connection) => connection.received);
	}

	async stop(): Promise<void> {
		for (const connection of this.connections) connection.socket.terminate();
		for (const socket of this.rawSockets) socket.destroy();
		await new Promise<void>((resolve) => this.wss.close(() => resolve()));
		await new Promise<void>((resolve) => this.http.close(() => resolve()));
	}

	// ---- WebSocket ------------------------------------------------------------------------

	/** The protocol version announced on connect. */
	protocol = 1;

	private accept(socket: WebSocket): void {
		const connection: Connection = { socket, allRuns: false, runs: new Set(), received: [] };
		this.connections.add(connection);
		this.connectionCount += 1;
		socket.on('close', () => this.connections.delete(connection));
		socket.on('message', (raw) => this.handleMessage(connection, raw.toString()));
		this.sendJson(connection, { type: 'connected', protocol: this.protocol });
	}

	private handleMessage(connection: Connection, frame: string): void {
		if (this.silent) return;
		let message: ClientMessage;
		try {
			message = JSON.parse(frame);
		} catch {
			this.sendError(connection, 'bad_json', 'not JSON');
			return;
		}
		connection.received.push(message);
		if (message.type === 'ping') {
			this.sendJson(connection, { type: 'pong' });
			return;
		}
		const sweep = message.topic === 'sweep' ? message.sweep_id : undefined;
		const run = message.topic === 'backtest' ? message.backtest_id : undefined;
		const target = sweep !== undefined ? { topic: 'sweep', sweep_id: sweep } : { topic: 'backtest', ...(run ? { backtest_id: run } : {}) };
		const id = sweep !== undefined ? sweepKey(sweep) : run;
		if (id !== undefined && !this.events.has(id)) {
			this.sendError(connection, 'unknown_run', `no stream ${id}`);
			return;
		}
		if (message.type === 'subscribe') {
			const subscribed = { type: 'subscribed', ...target, ...(id ? { since: message.since ?? 0 } : {}) };
			if (id === undefined) {
				connection.allRuns = true;
				this.sendJson(connection, subscribed);
			} else {
				// The reply, the replay, then live, synchronously: nothing can slip in between.
				const replay = this.events.get(id)!.filter((event) => event.seq > (message.since ?? 0));
				this.sendBatch(connection, [subscribed, ...replay]);
				connection.runs.add(id);
			}
		} else {
			if (id === undefined) connection.allRuns = false;
			else connection.runs.delete(id);
			this.sendJson(connection, { type: 'unsubscribed', ...target });
		}
	}

	private sendError(connection: Connection, code: string, message: string): void {
		this.sendJson(connection, { type: 'error', error: { code, message } });
	}

	private sendJson(connection: Connection, value: unknown): void {
		this.sendBatch(connection, [value]);
	}

	/** One message per value, or one array of them all with batched framing. */
	private sendBatch(connection: Connection, values: unknown[]): void {
		if (this.silent) return;
		if (connection.socket.protocol === BATCH_SUBPROTOCOL) connection.socket.send(JSON.stringify(values));
		else for (const value of values) connection.socket.send(JSON.stringify(value));
	}

	// ---- REST -----------------------------------------------------------------------------

	private handleHttp(req: IncomingMessage, res: ServerResponse): void {
		let body = '';
		req.on('data', (chunk) => (body += chunk));
		req.on('end', () => {
			const { pathname: path, search } = new URL(req.url ?? '/', 'http://x');
			this.requests.push({ method: req.method ?? 'GET', path, search, headers: req.headers, body });
			const reply = (status: number, value: unknown) => {
				res.writeHead(status, { 'Content-Type': 'application/json' });
				res.end(JSON.stringify(value));
			};
			// Stands in for Jupyter's token or cookie-plus-XSRF login.
			const authorized =
				req.headers.authorization === `token ${TEST_TOKEN}` ||
				req.headers['x-xsrftoken'] === TEST_XSRF;
			if (!authorized) {
				reply(403, { message: 'Forbidden' });
				return;
			}
			const route = path.slice(TEST_BASE_PATH.length);
			if (req.method === 'GET' && route === 'api/v1/strategies') reply(200, { strategies: STRATEGIES });
			else if (req.method === 'POST' && route === 'api/v1/backtest/run') this.startRun(body, reply);
			else if (req.method === 'GET' && route === 'api/v1/backtest') reply(200, { runs: [] as RunRecord[] });
			else reply(404, { message: `no route ${req.method} ${route}` });
		});
	}

	private startRun(body: string, reply: (status: number, value: unknown) => void): void {
		const request = JSON.parse(body);
		if (!STRATEGIES.some((strategy) => strategy.name === request.strategy)) {
			reply(400, { message: `unknown strategy: ${request.strategy}`, field: 'strategy' });
			return;
		}
		const id = `run-${this.events.size + 1}`;
		this.events.set(id, []);
		reply(202, { backtest_id: id, status: 'running' });
	}
}
