import { fireEvent, render, screen, within } from '@testing-library/svelte';
import { tick } from 'svelte';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { SweepScript } from '../../test-support/fixtures';
import { charts } from '../../test-support/fake-echarts';
import { ScriptedClient } from '../../test-support/scripted-client';
import type { SweepEvent } from '../protocol';
import { ApiError } from '../rest-api';
import SweepsPage from './SweepsPage.svelte';

let client: ScriptedClient;
let shown: string[];
let opened: string[];

beforeEach(() => {
	client = new ScriptedClient();
	shown = [];
	opened = [];
});

async function renderPage(openSweepId: string | null = null) {
	render(SweepsPage, { client, openSweepId, onshown: (id: string) => shown.push(id), onopenrun: (id: string) => opened.push(id) });
	await screen.findByRole('option', { name: 'sma_crossover' });
}

async function emit(...events: SweepEvent[]) {
	client.emitEvents(events);
	await new Promise((done) => requestAnimationFrame(done));
	await tick();
}

const figure = () => screen.getByRole('figure', { name: 'Sweep heatmap' });
/** The data of the heatmap's cells as drawn: [x index, y index, value]. */
function drawnCells(): number[][] {
	const chart = [...charts].find((c) => figure().contains(c.element))!;
	return (chart.option as { series: { data: number[][] }[] }).series[0].data;
}

describe('SweepsPage', () => {
	it('starts a sweep from the form and follows its stream', async () => {
		await renderPage();
		await fireEvent.click(screen.getByRole('button', { name: 'Start sweep' }));
		await tick();
		expect(client.sweepRequests[0]).toMatchObject({ strategy: 'sma_crossover', maximize: 'sharpe_ratio', method: 'grid' });
		expect(client.subscriptions).toEqual([{ sweepId: 'sweep-1', since: 0 }]);
		expect(shown).toEqual(['sweep-1']);
		expect(screen.getByRole('button', { name: 'Start sweep' })).toBeDisabled();
	});

	it('fills the heatmap cell by cell, counts failed and skipped, and marks the best', async () => {
		await renderPage();
		await fireEvent.click(screen.getByRole('button', { name: 'Start sweep' }));
		const sweep = new SweepScript('sweep-1');
		await emit(sweep.start(), sweep.trial({ fast: 5, slow: 20 }, 0.5));
		expect(figure()).toHaveAttribute('data-cells', '1');
		expect(drawnCells()).toEqual([[0, 0, 0.5]]);
		expect(screen.getByTestId('sweep-done')).toHaveTextContent('1 / 6');

		await emit(
			sweep.trial({ fast: 10, slow: 40 }, 1.5),
			sweep.trial({ fast: 15, slow: 20 }, null, 'failed'),
			sweep.trial({ fast: 15, slow: 40 }, null, 'skipped')
		);
		// A running sweep's heatmap redraws twice a second at most.
		await vi.waitFor(() => expect(figure()).toHaveAttribute('data-cells', '2'));
		expect(figure()).toHaveAttribute('data-best', '1,1');
		expect(screen.getByTestId('sweep-done')).toHaveTextContent('4 / 6');
		expect(screen.getByText('Failed').nextElementSibling).toHaveTextContent('1');
		expect(screen.getByText('Skipped').nextElementSibling).toHaveTextContent('1');
		expect(screen.getByTestId('sweep-best')).toHaveTextContent('1.50 · fast=10, slow=40');

		await emit(sweep.next('sweep_complete', { counts: { total: 6, completed: 2, failed: 1, cancelled: 0, skipped: 1 }, best: null, duration: 3 }));
		expect(screen.getByTestId('sweep-status')).toHaveTextContent('completed');
		expect(screen.getByRole('button', { name: 'Start sweep' })).toBeEnabled();
	});

	it('opens a trial from the top-trials table', async () => {
		await renderPage();
		await fireEvent.click(screen.getByRole('button', { name: 'Start sweep' }));
		const sweep = new SweepScript('sweep-1');
		await emit(sweep.start(), sweep.trial({ fast: 5, slow: 20 }, 0.5), sweep.trial({ fast: 10, slow: 20 }, 0.9));
		const rows = within(screen.getByRole('region', { name: 'Top trials' })).getAllByRole('row').slice(1);
		expect(rows.map((row) => row.dataset.backtestId)).toEqual(['trial-10-20', 'trial-5-20']);
		await fireEvent.click(rows[1]);
		expect(opened).toEqual(['trial-5-20']);
	});

	it('offers axis choosers beyond two params and says how the others are folded', async () => {
		await renderPage();
		await fireEvent.click(screen.getByRole('button', { name: 'Start sweep' }));
		const sweep = new SweepScript('sweep-1', { fast: [5, 10], slow: [20, 40], stop: [1, 2] });
		await emit(sweep.start(), sweep.trial({ fast: 5, slow: 20, stop: 1 }, 0.5), sweep.trial({ fast: 5, slow: 20, stop: 2 }, 0.7));
		expect(screen.getByTestId('aggregation')).toHaveTextContent('max over stop');
		expect(drawnCells()).toEqual([[0, 0, 0.7]]);
		await fireEvent.change(screen.getByRole('combobox', { name: 'Heatmap y axis' }), { target: { value: 'stop' } });
		expect(screen.getByTestId('aggregation')).toHaveTextContent('max over slow');
		expect(drawnCells()).toEqual([
			[0, 0, 0.5],
			[0, 1, 0.7]
		]);
	});

	it("reopens the address's sweep after a reload by replaying its stream", async () => {
		client.sweeps = [
			{
				sweep_id: 'old', status: 'completed', strategy: 'sma_crossover', data: { sample: 'gbm', bars: 1000 }, grid: { fast: [5] }, params: {},
				method: 'grid', seed: 1, objective: { metric: 'sharpe_ratio', direction: 'maximize' }, total_trials: 1, counts: null, best: null,
				created_at: '2026-01-01T00:00:00Z', finished_at: null, last_seq: 3
			}
		];
		await renderPage('old');
		await tick();
		expect(client.subscriptions).toEqual([{ sweepId: 'old', since: 0 }]);
		expect(screen.getByRole('button', { name: /sma_crossover · grid/ })).toHaveAttribute('aria-current', 'true');
	});

	it("marks the field a sweep's 400 names", async () => {
		client.sweepAccepted = new ApiError(400, 'fast has 50,000 values, over the limit of 10,000 trials', 'grid.fast');
		await renderPage();
		await fireEvent.change(screen.getByRole('combobox', { name: 'fast: how' }), { target: { value: 'list' } });
		await fireEvent.click(screen.getByRole('button', { name: 'Start sweep' }));
		await tick();
		expect(screen.getByRole('textbox', { name: 'fast values' })).toHaveAttribute('aria-invalid', 'true');
		expect(screen.getByText(/over the limit/)).toBeInTheDocument();
	});
});
