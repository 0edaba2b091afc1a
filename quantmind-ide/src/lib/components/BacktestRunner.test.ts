import { fireEvent, render, screen, within } from '@testing-library/svelte';
import { tick } from 'svelte';
import { beforeEach, describe, expect, it } from 'vitest';
import { COMPLETE_DATA, EventScript } from '../../test-support/fixtures';
import { ScriptedClient } from '../../test-support/scripted-client';
import type { BacktestEvent, RunRecord } from '../protocol';
import BacktestRunner from './BacktestRunner.svelte';

let client: ScriptedClient;

beforeEach(() => {
	client = new ScriptedClient();
});

async function renderRunner() {
	render(BacktestRunner, { client });
	// Strategies and past runs load on mount.
	await screen.findByRole('option', { name: 'sma_crossover' });
}

async function startRun(): Promise<EventScript> {
	await renderRunner();
	await fireEvent.click(screen.getByRole('button', { name: 'Run' }));
	await tick();
	return new EventScript('run-1');
}

/** Events are applied once per animation frame. */
async function nextFrame() {
	await new Promise((done) => requestAnimationFrame(done));
	await tick();
}

async function emit(...events: BacktestEvent[]) {
	client.emitEvents(events);
	await nextFrame();
}

const progressValue = () => screen.getByRole('progressbar').getAttribute('aria-valuenow');
const metricValue = (label: string) => screen.getByText(label, { selector: 'dt' }).nextElementSibling?.textContent;

describe('BacktestRunner', () => {
	it('opens with working defaults: sma_crossover on sample data', async () => {
		await renderRunner();
		expect(screen.getByRole('combobox', { name: 'Strategy' })).toHaveValue('sma_crossover');
		expect(screen.getByRole('spinbutton', { name: 'fast' })).toHaveValue(10);
		expect(screen.getByRole('spinbutton', { name: 'slow' })).toHaveValue(30);
		expect(screen.getByRole('radio', { name: 'Sample prices' })).toBeChecked();
		expect(screen.getByText(/Choose a strategy and press Run/)).toBeInTheDocument();

		await fireEvent.click(screen.getByRole('button', { name: 'Run' }));
		expect(client.requests).toEqual([
			{
				strategy: 'sma_crossover',
				params: { fast: 10, slow: 30 },
				data: { sample: 'gbm', bars: 100_000, seed: 42, freq: '1min' },
				initial_balance: 10_000
			}
		]);
		await tick();
		expect(client.subscriptions).toEqual([{ backtestId: 'run-1', since: 0 }]);
	});

	it('sends edited parameters and a file path', async () => {
		await renderRunner();
		await fireEvent.input(screen.getByRole('spinbutton', { name: 'fast' }), { target: { value: '5' } });
		await fireEvent.click(screen.getByRole('radio', { name: /File under/ }));
		await fireEvent.input(screen.getByRole('textbox', { name: 'Path' }), { target: { value: 'data/prices.csv' } });
		await fireEvent.click(screen.getByRole('button', { name: 'Run' }));
		expect(client.requests[0]).toMatchObject({ params: { fast: 5, slow: 30 }, data: { path: 'data/prices.csv' } });
	});

	it('shows live progress, trades, P&L and ETA while running, and cancels', async () => {
		const run = await startRun();
		await emit(run.start(), run.progress(25, { trades_count: 2, pnl: 120.5 }));

		expect(progressValue()).toBe('25');
		expect(screen.getByText('250 / 1,000')).toBeInTheDocument();
		expect(screen.getByText('+120.50')).toBeInTheDocument();
		expect(screen.getByTestId('run-status')).toHaveTextContent('running');
		// Start at t=1s, 25% at t=2s: 1 s for 25%, so 3 s left.
		expect(screen.getByText('ETA').nextElementSibling).toHaveTextContent('3s');
		expect(screen.getByRole('button', { name: 'Run' })).toBeDisabled();

		await fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
		expect(client.cancelled).toEqual(['run-1']);
	});

	it('shows 100%, the six metrics and the equity curve at the end', async () => {
		const run = await startRun();
		await emit(run.start(), run.progress(50, { pnl: 300 }), run.progress(100, { pnl: 523.4 }), run.complete());

		expect(progressValue()).toBe('100');
		expect(metricValue('Final balance')).toBe('10,523.40');
		expect(metricValue('Total return')).toBe('5.23%');
		expect(metricValue('Trades')).toBe('7');
		expect(metricValue('Win rate')).toBe('57.14%');
		expect(metricValue('Sharpe')).toBe('1.23');
		expect(metricValue('Max drawdown')).toBe('-3.21%');
		expect(screen.getByRole('img', { name: 'Equity curve' })).toBeInTheDocument();
		expect(screen.getByTestId('run-status')).toHaveTextContent('completed');
		expect(screen.getByRole('button', { name: 'Cancel' })).toBeDisabled();
		expect(screen.getByRole('button', { name: 'Run' })).toBeEnabled();
	});

	it('shows undefined metrics as a dash, never NaN', async () => {
		const run = await startRun();
		await emit(run.start(), run.next('backtest_complete', { ...COMPLETE_DATA, sharpe_ratio: null, win_rate: null }));
		expect(metricValue('Sharpe')).toBe('—');
		expect(metricValue('Win rate')).toBe('—');
	});

	it('shows a failed run with its message', async () => {
		const run = await startRun();
		await emit(
			run.start(),
			run.next('backtest_error', { error: "missing column 'close'", error_type: 'DataError', traceback: 'Traceback...' })
		);
		expect(screen.getByRole('alert')).toHaveTextContent("DataError: missing column 'close'");
		expect(screen.getByTestId('run-status')).toHaveTextContent('failed');
	});

	it('shows a cancelled run', async () => {
		const run = await startRun();
		await emit(run.start(), run.progress(10), run.next('backtest_cancelled', { bars_processed: 100 }));
		expect(screen.getByText('Cancelled after 100 bars.')).toBeInTheDocument();
		expect(screen.getByTestId('run-status')).toHaveTextContent('cancelled');
	});

	it('shows a REST failure with the server message', async () => {
		client.accepted = new Error('unknown strategy: nope');
		await renderRunner();
		await fireEvent.click(screen.getByRole('button', { name: 'Run' }));
		expect(await screen.findByRole('alert')).toHaveTextContent('unknown strategy: nope');
	});

	it('ignores events of other runs', async () => {
		const run = await startRun();
		const other = new EventScript('someone-else');
		await emit(run.start(), other.start(), other.progress(90));
		expect(progressValue()).toBe('0');
	});

	it('shows the connection state and counts reconnects', async () => {
		await renderRunner();
		const indicator = screen.getByRole('status');
		expect(indicator).toHaveTextContent('Connected');
		client.setState('reconnecting');
		await tick();
		expect(indicator).toHaveTextContent('Reconnecting…');
		client.setState('connecting');
		client.setState('open');
		await tick();
		expect(indicator).toHaveTextContent('Connected (1 reconnect)');
	});
});

describe('log panel', () => {
	it('filters by level', async () => {
		const run = await startRun();
		await emit(run.start(), run.log('bought', 'INFO'), run.log('odd data', 'WARNING'), run.log('boom', 'ERROR'));
		const log = screen.getByRole('log');
		expect(within(log).getAllByRole('listitem')).toHaveLength(3);

		await fireEvent.change(screen.getByRole('combobox', { name: 'Minimum log level' }), {
			target: { value: 'WARNING' }
		});
		expect(within(log).getAllByRole('listitem').map((li) => li.textContent)).toEqual([
			expect.stringContaining('odd data'),
			expect.stringContaining('boom')
		]);
		expect(screen.getByTestId('log-count')).toHaveTextContent('2 of 3 lines');
	});

	it('stays responsive with 100,000 lines: renders only a window, scrolled to the newest', async () => {
		const run = await startRun();
		const lines = Array.from({ length: 100_000 }, (_, i) => run.log(`line ${i + 1}`));
		const started = performance.now();
		client.emitEvents([run.start(), ...lines]);
		await nextFrame();
		const elapsed = performance.now() - started;

		expect(screen.getByTestId('log-count')).toHaveTextContent('100000 lines');
		const rendered = within(screen.getByRole('log')).getAllByRole('listitem');
		expect(rendered.length).toBeLessThan(60);
		expect(rendered.at(-1)).toHaveTextContent('line 100000');
		expect(elapsed).toBeLessThan(5000);
	});
});

describe('past runs', () => {
	const stored: RunRecord = {
		backtest_id: 'old-1',
		status: 'completed',
		origin: 'server',
		request: { strategy: 'sma_crossover', params: {}, data: { sample: 'gbm', bars: 1000 } },
		client_request_id: null,
		created_at: '2026-01-01T00:00:00Z',
		started_at: '2026-01-01T00:00:01Z',
		finished_at: '2026-01-01T00:00:02Z',
		progress: null,
		result: COMPLETE_DATA,
		error: null,
		last_seq: 4
	};

	it('lists them and replays the chosen one from its first event', async () => {
		client.runs = [stored];
		await renderRunner();
		await fireEvent.click(await screen.findByRole('button', { name: /sma_crossover completed/ }));
		expect(client.subscriptions).toEqual([{ backtestId: 'old-1', since: 0 }]);

		const replay = new EventScript('old-1');
		await emit(replay.start(), replay.log('hello'), replay.progress(100), replay.complete());
		expect(progressValue()).toBe('100');
		expect(metricValue('Final balance')).toBe('10,523.40');
		expect(screen.getByRole('log')).toHaveTextContent('hello');
	});

	it('stops following the previous run when another is chosen', async () => {
		client.runs = [stored];
		await startRun();
		await fireEvent.click(await screen.findByRole('button', { name: /sma_crossover completed/ }));
		expect(client.unsubscriptions).toEqual([{ backtestId: 'run-1', since: 0 }]);
	});
});
