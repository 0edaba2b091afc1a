import { fireEvent, render, screen, within } from '@testing-library/svelte';
import { tick } from 'svelte';
import { beforeEach, describe, expect, it } from 'vitest';
import { COMPLETE_DATA, EventScript, STATS, STRATEGIES } from '../../test-support/fixtures';
import { ScriptedClient } from '../../test-support/scripted-client';
import type { BacktestEvent, RunRecord } from '../protocol';
import { ApiError } from '../rest-api';
import BacktestRunner from './BacktestRunner.svelte';

let client: ScriptedClient;

beforeEach(() => {
	client = new ScriptedClient();
});

async function renderRunner() {
	render(BacktestRunner, { client, sweepHref: (id: string) => `sweeps?sweep=${id}` });
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

const field = (name: string) => screen.getByRole('spinbutton', { name });
const type = (input: HTMLElement, value: string) => fireEvent.input(input, { target: { value } });

const progressValue = () => screen.getByRole('progressbar').getAttribute('aria-valuenow');
const metricValue = (label: string) => screen.getByText(label, { selector: 'dt' }).nextElementSibling?.textContent;
const statValue = (name: string) =>
	within(screen.getByRole('table', { name: 'Statistics' })).getByRole('rowheader', { name }).nextElementSibling?.textContent;

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
				initial_balance: 10_000,
				commission: 0
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
		await emit(run.start(), run.progress(5), run.progress(15));
		// The pace is not measured over 2 s yet: no ETA that means nothing.
		expect(screen.getByText('ETA').nextElementSibling).toHaveTextContent('—');
		await emit(run.progress(25, { trades_count: 2, pnl: 120.5 }));

		expect(progressValue()).toBe('25');
		expect(screen.getByText('250 / 1,000')).toBeInTheDocument();
		expect(screen.getByText('+120.50')).toBeInTheDocument();
		expect(screen.getByTestId('run-status')).toHaveTextContent('running');
		// 5% at t=2s, 25% at t=4s: 2 s for 20%, so 7.5 s for the 75% left.
		expect(screen.getByText('ETA').nextElementSibling).toHaveTextContent('8s');
		expect(screen.getByRole('button', { name: 'Run' })).toBeDisabled();

		await fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
		expect(client.cancelled).toEqual(['run-1']);
	});

	it('shows 100%, the six metrics and the run chart at the end', async () => {
		const run = await startRun();
		await emit(run.start(), run.progress(50, { pnl: 300 }), run.progress(100, { pnl: 523.4 }), run.complete());

		expect(progressValue()).toBe('100');
		expect(metricValue('Final balance')).toBe('10,523.40');
		expect(metricValue('Total return')).toBe('5.23%');
		expect(metricValue('Trades')).toBe('7');
		expect(metricValue('Win rate')).toBe('57.14%');
		expect(metricValue('Sharpe')).toBe('1.23');
		expect(metricValue('Max drawdown')).toBe('-3.21%');
		expect(screen.getByRole('img', { name: 'Run chart' })).toBeInTheDocument();
		expect(screen.getByTestId('run-status')).toHaveTextContent('completed');
		expect(screen.getByRole('button', { name: 'Cancel' })).toBeDisabled();
		expect(screen.getByRole('button', { name: 'Run' })).toBeEnabled();
	});

	it('shows every statistic of the run, named and formatted, in a table at the end', async () => {
		const run = await startRun();
		await emit(run.start(), run.progress(50));
		expect(screen.queryByRole('table', { name: 'Statistics' })).not.toBeInTheDocument();

		await emit(run.complete());
		const table = screen.getByRole('table', { name: 'Statistics' });
		const rows = within(table).getAllByRole('row');
		expect(rows).toHaveLength(Object.keys(STATS).length);
		expect(rows[0]).toHaveTextContent('Start2026-01-01 00:00:00');
		expect(statValue('Sharpe Ratio')).toBe('1.234');
		expect(statValue('# Trades')).toBe('7');
		expect(statValue('Return [%]')).toBe('5.23%');
		expect(statValue('Equity Final [$]')).toBe('10,523.40');
		expect(statValue('Duration')).toBe('16h 39m');
		expect(statValue('Max. Trade Duration')).toBe('54m 00s');
		expect(statValue('Calmar Ratio')).toBe('–');
		expect(statValue('Short Win Rate [%]')).toBe('–');
		expect(table).not.toHaveTextContent('NaN');
		expect(table).not.toHaveTextContent('null');
	});

	it('shows no statistics table for a run stored before runs had statistics', async () => {
		const run = await startRun();
		await emit(run.start(), run.next('backtest_complete', COMPLETE_DATA));
		expect(metricValue('Sharpe')).toBe('1.23');
		expect(screen.queryByRole('table', { name: 'Statistics' })).not.toBeInTheDocument();
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

	it('shows a REST failure with the server message until the form is edited', async () => {
		client.accepted = new Error('too many queued runs');
		await renderRunner();
		await fireEvent.click(screen.getByRole('button', { name: 'Run' }));
		expect(await screen.findByRole('alert')).toHaveTextContent('too many queued runs');
		await fireEvent.input(screen.getByRole('spinbutton', { name: 'Seed' }), { target: { value: '7' } });
		expect(screen.queryByRole('alert')).not.toBeInTheDocument();
	});

	it('ignores events of other runs', async () => {
		const run = await startRun();
		const other = new EventScript('someone-else');
		await emit(run.start(), other.start(), other.progress(90));
		expect(progressValue()).toBe('0');
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
		expect(statValue('Sharpe Ratio')).toBe('1.234');
		expect(screen.getByRole('log')).toHaveTextContent('hello');
	});

	it("reopened after a reload (the page's ?run=), shows the run's statistics from its replay", async () => {
		client.runs = [stored];
		render(BacktestRunner, { client, openRunId: 'old-1', sweepHref: (id: string) => `sweeps?sweep=${id}` });
		await screen.findByRole('region', { name: 'Run details' });
		expect(client.subscriptions).toEqual([{ backtestId: 'old-1', since: 0 }]);

		const replay = new EventScript('old-1');
		await emit(replay.start(), replay.progress(100), replay.complete());
		expect(statValue('# Trades')).toBe('7');
		expect(statValue('Win Rate [%]')).toBe('57.14%');
		expect(statValue('Periods per Year')).toBe('252,000');
	});

	it("lists only runs of their own (?sweep_id=none), yet opens a sweep's trial named in the address", async () => {
		client.runs = [stored, { ...stored, backtest_id: 'trial-1', sweep_id: 'sweep-9' }];
		render(BacktestRunner, { client, openRunId: 'trial-1', sweepHref: (id: string) => `sweeps?sweep=${id}` });
		const list = await screen.findByRole('region', { name: 'Past runs' });
		await within(list).findByRole('button', { name: /sma_crossover completed/ });
		expect(client.listFilters).toEqual([{ sweepId: 'none' }]);
		expect(within(list).getAllByRole('button', { name: /sma_crossover completed/ })).toHaveLength(1);
		expect(list.querySelector('[data-backtest-id="trial-1"]')).toBeNull();
		expect(await screen.findByTestId('run-sweep')).toHaveTextContent('sweep-9');
	});

	it('opening one shows its strategy, params, data and settings and fills the form to run it again', async () => {
		const request = {
			strategy: 'sma_crossover',
			params: { fast: 5, slow: 50 },
			data: { path: 'data/prices.csv' },
			initial_balance: 25_000,
			commission: 0.001,
			periods_per_year: 252
		};
		client.runs = [{ ...stored, request }];
		await renderRunner();
		await fireEvent.click(await screen.findByRole('button', { name: /sma_crossover completed/ }));

		const summary = screen.getByRole('region', { name: 'Run details' });
		expect(within(summary).getByTestId('run-params')).toHaveTextContent('fast=5, slow=50');
		expect(within(summary).getByTestId('run-data')).toHaveTextContent('data/prices.csv');
		expect(summary).toHaveTextContent('25,000.00');
		expect(summary).toHaveTextContent('0.001');
		expect(summary).toHaveTextContent('252');

		expect(field('fast')).toHaveValue(5);
		expect(field('slow')).toHaveValue(50);
		expect(screen.getByRole('radio', { name: /File under/ })).toBeChecked();
		expect(screen.getByRole('textbox', { name: 'Path' })).toHaveValue('data/prices.csv');
		expect(field('Initial balance')).toHaveValue(25_000);
		expect(field('Commission')).toHaveValue(0.001);
		expect(field('Periods per year')).toHaveValue(252);

		await fireEvent.click(screen.getByRole('button', { name: 'Run' }));
		expect(client.requests).toEqual([request]);
	});

	it('opening a sample run brings back its bars, seed and interval; a stored default stays blank', async () => {
		const request = { strategy: 'sma_crossover', params: { fast: 7, slow: 30 }, data: { sample: 'gbm' as const, bars: 500, seed: 3, freq: '1h' } };
		client.runs = [{ ...stored, request }];
		await renderRunner();
		await fireEvent.click(await screen.findByRole('button', { name: /sma_crossover completed/ }));
		expect(field('Bars')).toHaveValue(500);
		expect(field('Seed')).toHaveValue(3);
		expect(screen.getByRole('textbox', { name: 'Bar interval' })).toHaveValue('1h');
		await fireEvent.click(screen.getByRole('button', { name: 'Run' }));
		expect(client.requests).toEqual([request]);
	});

	it('tells apart runs of one strategy with the same return by their params and data', async () => {
		client.runs = [
			{ ...stored, backtest_id: 'a', request: { strategy: 'sma_crossover', params: { fast: 5, slow: 50 }, data: { sample: 'gbm', bars: 1000, seed: 1, freq: '1min' } } },
			{ ...stored, backtest_id: 'b', request: { strategy: 'sma_crossover', params: { fast: 10, slow: 30 }, data: { path: 'data/prices.csv' } } }
		];
		await renderRunner();
		const list = await screen.findByRole('region', { name: 'Past runs' });
		const [a, b] = within(list).getAllByRole('button', { name: /sma_crossover completed/ });
		expect(a).toHaveTextContent('fast=5, slow=50');
		expect(a).toHaveTextContent('GBM sample, 1,000 bars, 1min, seed 1');
		expect(b).toHaveTextContent('fast=10, slow=30');
		expect(b).toHaveTextContent('data/prices.csv');
	});

	it("opening a notebook's run on a DataFrame shows it and keeps the form's data", async () => {
		client.runs = [{ ...stored, origin: 'kernel', request: { strategy: 'my_own', params: { k: 2 }, data: { dataframe: { rows: 1234 } } } }];
		await renderRunner();
		await fireEvent.click(await screen.findByRole('button', { name: /my_own completed/ }));
		expect(screen.getByTestId('run-data')).toHaveTextContent('DataFrame, 1,234 rows');
		expect(screen.getByRole('combobox', { name: 'Strategy' })).toHaveValue('sma_crossover');
		expect(screen.getByRole('radio', { name: 'Sample prices' })).toBeChecked();
	});

	it('stops following the previous run when another is chosen', async () => {
		client.runs = [stored];
		await startRun();
		await fireEvent.click(await screen.findByRole('button', { name: /sma_crossover completed/ }));
		expect(client.unsubscriptions).toEqual([{ backtestId: 'run-1', since: 0 }]);
	});
});

describe('field limits and errors', () => {
	it('takes param bounds from the strategy catalogue and says which field is out of them', async () => {
		await renderRunner();
		await type(field('fast'), '1');
		await fireEvent.click(screen.getByRole('button', { name: 'Run' }));
		expect(client.requests).toEqual([]);
		expect(screen.getByRole('alert')).toHaveTextContent('fast must be ≥ 2.');
		expect(field('fast')).toHaveAttribute('aria-invalid', 'true');

		await type(field('fast'), '3');
		expect(screen.queryByRole('alert')).not.toBeInTheDocument();
		expect(field('fast')).not.toHaveAttribute('aria-invalid');
	});

	it('follows the catalogue: a lower min from the server lets the same value through', async () => {
		client.strategyList = STRATEGIES.map((s) =>
			s.name === 'sma_crossover' ? { ...s, params: { ...s.params, fast: { ...s.params.fast, min: 1 } } } : s
		);
		await renderRunner();
		await type(field('fast'), '1');
		await fireEvent.click(screen.getByRole('button', { name: 'Run' }));
		expect(client.requests[0].params.fast).toBe(1);
	});

	it('sends bars = 1, which the server accepts: data limits are the server’s to say', async () => {
		await renderRunner();
		await type(field('Bars'), '1');
		expect(field('Bars')).toBeValid();
		await fireEvent.click(screen.getByRole('button', { name: 'Run' }));
		expect(client.requests[0].data).toMatchObject({ bars: 1 });
	});

	it('marks the field a 400 names, and an edit of that field takes the error away', async () => {
		client.accepted = new ApiError(400, 'fast (50) must be less than slow (30)', 'params.fast');
		await renderRunner();
		await type(field('fast'), '50');
		await fireEvent.click(screen.getByRole('button', { name: 'Run' }));
		expect(await screen.findByRole('alert')).toHaveTextContent('fast (50) must be less than slow (30)');
		expect(field('fast')).toHaveAttribute('aria-invalid', 'true');
		expect(field('fast')).toHaveAccessibleDescription('fast (50) must be less than slow (30)');

		await type(field('fast'), '20');
		expect(screen.queryByRole('alert')).not.toBeInTheDocument();
		client.accepted = { backtest_id: 'run-1', status: 'running' };
		await fireEvent.click(screen.getByRole('button', { name: 'Run' }));
		expect(client.requests.at(-1)?.params).toEqual({ fast: 20, slow: 30 });
	});

	it("shows the server's `data` error at the data group until the data is edited", async () => {
		client.accepted = new ApiError(400, 'data.bars must be between 1 and 1000, got 5000', 'data');
		await renderRunner();
		await type(field('Bars'), '5000');
		await fireEvent.click(screen.getByRole('button', { name: 'Run' }));
		const group = screen.getByRole('group', { name: 'Data' });
		expect(await within(group).findByRole('alert')).toHaveTextContent('data.bars must be between 1 and 1000');
		await type(field('Bars'), '1000');
		expect(screen.queryByRole('alert')).not.toBeInTheDocument();
	});
});
