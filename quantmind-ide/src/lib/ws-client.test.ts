import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WebSocket as NodeWebSocket } from 'ws';
import { COMPLETE_DATA, START_DATA, STRATEGIES } from '../test-support/fixtures';
import { ProtocolServer, TEST_TOKEN, TEST_XSRF } from '../test-support/protocol-server';
import type { BacktestEvent, ErrorMessage } from './protocol';
import { ApiError } from './rest-api';
import {
	BacktestClient,
	createBacktestClient,
	type BacktestClientOptions,
	type ConnectionState,
	type WebSocketConstructor
} from './ws-client';

const FAST_BACKOFF = { initialDelayMs: 20, maxDelayMs: 160, factor: 2, jitter: 0 };

let server: ProtocolServer;
const clients: BacktestClient[] = [];

function newClient(options: BacktestClientOptions = {}, baseUrl = server.baseUrl): BacktestClient {
	const client = new BacktestClient(baseUrl, {
		token: TEST_TOKEN,
		WebSocket: NodeWebSocket as unknown as WebSocketConstructor,
		backoff: FAST_BACKOFF,
		...options
	});
	clients.push(client);
	return client;
}

/** Every backtest event the client hands out, in order. */
function recordEvents(client: BacktestClient): BacktestEvent[] {
	const seen: BacktestEvent[] = [];
	for (const type of ['backtest_start', 'log_entry', 'backtest_progress', 'backtest_complete'] as const) {
		client.on(type, (event) => seen.push(event));
	}
	return seen;
}

function recordStates(client: BacktestClient): ConnectionState[] {
	const states: ConnectionState[] = [];
	for (const type of ['connecting', 'open', 'reconnecting', 'closed'] as const) {
		client.on(type, (change) => states.push(change.type));
	}
	return states;
}

const seqsOf = (events: BacktestEvent[]) => events.map((event) => event.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function startRun(id: string): void {
	server.publish(id, 'backtest_start', START_DATA);
}

beforeEach(async () => {
	server = await ProtocolServer.start();
});

afterEach(async () => {
	for (const client of clients.splice(0)) client.close();
	await server.stop();
});

describe('connecting', () => {
	it('resolves once the server says connected, on a base path, with the token on the URL', async () => {
		const client = newClient();
		await client.connect();
		expect(client.state).toBe('open');
		expect(server.connectionCount).toBe(1);
	});

	it('createBacktestClient resolves to a connected client (the seed usage)', async () => {
		const client = await createBacktestClient(server.baseUrl, {
			token: TEST_TOKEN,
			WebSocket: NodeWebSocket as unknown as WebSocketConstructor
		});
		clients.push(client);
		expect(client.state).toBe('open');
	});

	it('reports the states connecting then open', async () => {
		const client = newClient();
		const states = recordStates(client);
		await client.connect();
		expect(states).toEqual(['connecting', 'open']);
	});
});

describe('events', () => {
	it('delivers the live events of all runs in order', async () => {
		const client = newClient();
		const seen = recordEvents(client);
		client.subscribe();
		await client.connect();
		await vi.waitFor(() => expect(server.receivedMessages()).toContainEqual({ type: 'subscribe', topic: 'backtest' }));
		startRun('r1');
		server.publishLogs('r1', 50);
		await vi.waitFor(() => expect(seen).toHaveLength(51));
		expect(seqsOf(seen)).toEqual(range(1, 51));
		expect(seen[0].type).toBe('backtest_start');
	});

	it('replays a followed run from since, then continues live with no gap or repeat', async () => {
		startRun('r1');
		server.publishLogs('r1', 9);
		const client = newClient();
		const seen = recordEvents(client);
		await client.connect();
		client.subscribe({ backtestId: 'r1', since: 4 });
		await vi.waitFor(() => expect(seen).toHaveLength(6));
		server.publishLogs('r1', 5, 10);
		await vi.waitFor(() => expect(seen).toHaveLength(11));
		expect(seqsOf(seen)).toEqual(range(5, 15));
	});

	it('offers batched framing and reads a replay sent as one array', async () => {
		startRun('r1');
		server.publishLogs('r1', 50);
		const client = newClient();
		const seen = recordEvents(client);
		const subscribed: string[] = [];
		client.on('subscribed', (message) => subscribed.push(`${'backtest_id' in message ? message.backtest_id : ''} after ${seen.length}`));
		await client.connect();
		expect([...server.connections].map((connection) => connection.socket.protocol)).toEqual(['qm.batch']);
		client.subscribe({ backtestId: 'r1', since: 0 });
		await vi.waitFor(() => expect(seen).toHaveLength(51));
		expect(seqsOf(seen)).toEqual(range(1, 51));
		expect(subscribed).toEqual(['r1 after 0']);
	});

	it('stops delivering a run after its unsubscribe function is called', async () => {
		startRun('r1');
		const client = newClient();
		const seen = recordEvents(client);
		await client.connect();
		const unsubscribe = client.subscribe({ backtestId: 'r1', since: 0 });
		await vi.waitFor(() => expect(seen).toHaveLength(1));
		unsubscribe();
		await vi.waitFor(() =>
			expect(server.receivedMessages()).toContainEqual({ type: 'unsubscribe', topic: 'backtest', backtest_id: 'r1' })
		);
		server.publishLogs('r1', 3);
		await sleep(50);
		expect(seen).toHaveLength(1);
	});

	it('passes server error replies to error handlers and stays usable', async () => {
		const client = newClient();
		const errors: ErrorMessage[] = [];
		client.on('error', (message) => errors.push(message));
		await client.connect();
		client.subscribe({ backtestId: 'nope' });
		await vi.waitFor(() => expect(errors).toHaveLength(1));
		expect(errors[0].error.code).toBe('unknown_run');
		const pong = new Promise((resolve) => client.on('pong', resolve));
		server.sendRaw(JSON.stringify({ type: 'pong' }));
		await pong;
	});
});

describe('reconnection', () => {
	it('resumes a run cut mid-stream from the server side: every event once, in order', async () => {
		startRun('r1');
		server.publishLogs('r1', 20);
		const client = newClient();
		const seen = recordEvents(client);
		const states = recordStates(client);
		await client.connect();
		client.subscribe({ backtestId: 'r1', since: 0 });
		await vi.waitFor(() => expect(seen).toHaveLength(21));

		server.cutAll();
		server.publishLogs('r1', 30, 21); // published while the client is away
		await vi.waitFor(() => expect(server.connectionCount).toBe(2));
		server.publishLogs('r1', 10, 51);
		server.publish('r1', 'backtest_complete', COMPLETE_DATA);

		await vi.waitFor(() => expect(seen).toHaveLength(62));
		expect(seqsOf(seen)).toEqual(range(1, 62));
		expect(states).toEqual(['connecting', 'open', 'reconnecting', 'connecting', 'open']);
		expect(server.receivedMessages()).toContainEqual({
			type: 'subscribe',
			topic: 'backtest',
			backtest_id: 'r1',
			since: 21
		});
	});

	it('resumes a sweep cut mid-stream: every trial once, in order, beside a followed run', async () => {
		const trial = (fast: number) => ({
			backtest_id: `t${fast}`,
			params: { fast, slow: 30 },
			status: 'completed' as const,
			metrics: { sharpe_ratio: fast / 10 },
			objective: fast / 10,
			error: null,
			worker: 'tcp://127.0.0.1:1',
			attempt: 1
		});
		const publishTrials = (from: number, count: number) => {
			for (let fast = from; fast < from + count; fast++) server.publishSweep('s1', 'sweep_trial', trial(fast));
		};
		server.publishSweep('s1', 'sweep_start', {
			strategy: 'sma_crossover',
			method: 'grid',
			total_trials: 60,
			grid: { fast: range(1, 60), slow: [30] },
			params: {},
			objective: { metric: 'sharpe_ratio', direction: 'maximize' },
			seed: 1,
			data: START_DATA.data
		});
		publishTrials(1, 10);
		startRun('r1');
		const client = newClient();
		const trials: number[] = [];
		const seqs: number[] = [];
		for (const type of ['sweep_start', 'sweep_trial', 'sweep_complete'] as const) {
			client.on(type, (event) => {
				expect(event.sweep_id).toBe('s1');
				seqs.push(event.seq);
				if (event.type === 'sweep_trial') trials.push(event.data.params.fast as number);
			});
		}
		const runEvents = recordEvents(client);
		await client.connect();
		client.subscribe({ sweepId: 's1', since: 0 });
		client.subscribe({ backtestId: 'r1', since: 0 });
		await vi.waitFor(() => expect(trials).toHaveLength(10));

		server.cutAll();
		publishTrials(11, 30); // while the client is away
		await vi.waitFor(() => expect(server.connectionCount).toBe(2));
		publishTrials(41, 20);
		server.publishSweep('s1', 'sweep_complete', { counts: { total: 60, completed: 60, failed: 0, cancelled: 0, skipped: 0 }, best: null, duration: 1 });

		await vi.waitFor(() => expect(seqs).toHaveLength(62));
		expect(seqs).toEqual(range(1, 62));
		expect(trials).toEqual(range(1, 60));
		expect(seqsOf(runEvents)).toEqual([1]); // the run's stream is its own: no sweep event in it
		expect(server.receivedMessages()).toContainEqual({ type: 'subscribe', topic: 'sweep', sweep_id: 's1', since: 11 });
	});

	it('treats a slow-client close (4008 with a reason) like any drop and reports why', async () => {
		startRun('r1');
		const client = newClient();
		const seen = recordEvents(client);
		const drops: Array<{ code?: number; reason?: string }> = [];
		client.on('reconnecting', ({ code, reason }) => drops.push({ code, reason }));
		await client.connect();
		client.subscribe({ backtestId: 'r1', since: 0 });
		await vi.waitFor(() => expect(seen).toHaveLength(1));
		server.cutAll(4008, 'subscriber too slow');
		server.publishLogs('r1', 5);
		await vi.waitFor(() => expect(seen).toHaveLength(6));
		expect(seqsOf(seen)).toEqual(range(1, 6));
		expect(drops).toEqual([{ code: 4008, reason: 'subscriber too slow' }]);
	});

	it('backs off exponentially up to the cap while the server is down, then resumes', async () => {
		startRun('r1');
		const client = newClient();
		const seen = recordEvents(client);
		const delays: number[] = [];
		client.on('reconnecting', ({ delayMs }) => delays.push(delayMs!));
		await client.connect();
		client.subscribe({ backtestId: 'r1', since: 0 });
		await vi.waitFor(() => expect(seen).toHaveLength(1));

		const port = server.port;
		const stored = server.events;
		await server.stop();
		await vi.waitFor(() => expect(delays.length).toBeGreaterThanOrEqual(6), { timeout: 3000 });
		expect(delays.slice(0, 6)).toEqual([20, 40, 80, 160, 160, 160]);

		server = await ProtocolServer.start(port);
		for (const [id, events] of stored) server.events.set(id, events);
		server.publishLogs('r1', 3);
		await vi.waitFor(() => expect(seen).toHaveLength(4), { timeout: 3000 });
		expect(seqsOf(seen)).toEqual(range(1, 4));
		expect(client.state).toBe('open');
	});

	it('finds a connection dead when pings go unanswered, and reconnects', async () => {
		const client = newClient({ heartbeatIntervalMs: 40 });
		const drops: Array<number | undefined> = [];
		client.on('reconnecting', ({ code }) => drops.push(code));
		await client.connect();
		await vi.waitFor(() => expect(server.receivedMessages()).toContainEqual({ type: 'ping' }));
		server.goSilent();
		await vi.waitFor(() => expect(drops).toEqual([4000]));
		await vi.waitFor(() => expect(server.connectionCount).toBe(2));
	});

	it('never reconnects after close()', async () => {
		const client = newClient();
		const states = recordStates(client);
		await client.connect();
		client.close();
		server.cutAll();
		await sleep(300); // many backoff periods
		expect(server.connectionCount).toBe(1);
		expect(states.at(-1)).toBe('closed');
		expect(client.state).toBe('closed');
	});

	it('never reconnects after close() during a backoff wait', async () => {
		const client = newClient({ backoff: { ...FAST_BACKOFF, initialDelayMs: 100 } });
		await client.connect();
		const dropped = new Promise((resolve) => client.on('reconnecting', resolve));
		server.cutAll();
		await dropped;
		client.close();
		await sleep(300);
		expect(server.connectionCount).toBe(1);
	});
});

describe('malformed frames', () => {
	it('ignores them with an error event and keeps delivering', async () => {
		startRun('r1');
		const client = newClient();
		const seen = recordEvents(client);
		const errors: ErrorMessage[] = [];
		client.on('error', (message) => errors.push(message));
		await client.connect();
		client.subscribe({ backtestId: 'r1', since: 0 });
		await vi.waitFor(() => expect(seen).toHaveLength(1));

		server.sendRaw('not json {');
		server.sendRaw(JSON.stringify({ type: 'bogus' }));
		server.sendRaw(JSON.stringify({ type: 'log_entry', backtest_id: 'r1', seq: 'x', data: {} }));
		server.sendRaw(JSON.stringify([1, 2]));
		server.sendRaw(Buffer.from([1, 2, 3]));
		server.publishLogs('r1', 2);

		await vi.waitFor(() => expect(seen).toHaveLength(3));
		// [1, 2] reads as a batch of two messages that are not protocol messages
		expect(errors.map((message) => message.error.code)).toEqual(Array(6).fill('malformed_frame'));
		expect(seqsOf(seen)).toEqual([1, 2, 3]);
		expect(client.state).toBe('open');
	});
	it('warns with an error event when the server speaks another protocol version', async () => {
		server.protocol = 2;
		const client = newClient();
		const errors: ErrorMessage[] = [];
		client.on('error', (message) => errors.push(message));
		await client.connect();
		expect(errors.map((message) => message.error.code)).toEqual(['protocol_mismatch']);
	});
});

describe('REST', () => {
	it('sends the token and parses each endpoint', async () => {
		const client = newClient();
		expect(await client.strategies()).toEqual(STRATEGIES);
		const accepted = await client.runBacktest({
			strategy: 'sma_crossover',
			params: { fast: 5, slow: 20 },
			data: { sample: 'gbm', bars: 500, seed: 42, freq: '1min' }
		});
		expect(accepted.status).toBe('running');
		expect(await client.listRuns()).toEqual([]);
		expect(await client.listRuns({ sweepId: 'none' })).toEqual([]);
		expect(await client.listRuns({ sweepId: 'a b' })).toEqual([]);
		expect(server.requests.filter((r) => r.path.endsWith('/api/v1/backtest')).map((r) => r.search)).toEqual([
			'',
			'?sweep_id=none',
			'?sweep_id=a%20b'
		]);
		for (const request of server.requests) {
			expect(request.headers.authorization).toBe(`token ${TEST_TOKEN}`);
			expect(request.path.startsWith('/a%40b/api/v1/')).toBe(true);
		}
	});

	it('sends the XSRF value on POSTs when there is no token (cookie login)', async () => {
		const client = newClient({ token: undefined, xsrfToken: () => TEST_XSRF });
		await client.runBacktest({ strategy: 'buy_and_hold', params: {}, data: { path: 'x.csv' } });
		const [request] = server.requests;
		expect(request.headers['x-xsrftoken']).toBe(TEST_XSRF);
		expect(request.headers.authorization).toBeUndefined();
	});

	it("raises the server's message and the field it blames on an error reply", async () => {
		const client = newClient();
		const failure = client.runBacktest({ strategy: 'nope', params: {}, data: { path: 'x.csv' } });
		await expect(failure).rejects.toThrow(new ApiError(400, 'unknown strategy: nope', 'strategy'));
		await expect(failure).rejects.toMatchObject({ status: 400 });
	});
});
