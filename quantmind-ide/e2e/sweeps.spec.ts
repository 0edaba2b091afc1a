import { expect, test, type Page } from '@playwright/test';

const SWEEP_SCREENSHOT = 'test-results/ide-sweep.png';
const RUN_CHART_SCREENSHOT = 'test-results/ide-run-chart.png';

interface Server {
	baseUrl: string;
	token: string;
}

const plain = (): Server => ({ baseUrl: process.env.QM_E2E_URL!, token: process.env.QM_E2E_TOKEN! });
const cutting = (): Server => ({ baseUrl: process.env.QM_E2E_CUT_URL!, token: process.env.QM_E2E_CUT_TOKEN! });

const pageErrors = new WeakMap<Page, Error[]>();

test.beforeEach(({ page }) => {
	const errors: Error[] = [];
	pageErrors.set(page, errors);
	page.on('pageerror', (error) => errors.push(error));
});

test.afterEach(({ page }) => {
	expect(pageErrors.get(page)).toEqual([]);
});

async function openSweeps(page: Page, server: Server) {
	await page.goto(`${server.baseUrl}quantmind/sweeps/?token=${server.token}`);
	await expect(page.getByRole('status').filter({ hasText: 'Connected' })).toBeVisible();
	await expect(page.getByRole('combobox', { name: 'Strategy' })).toHaveValue('sma_crossover');
}

const number = (page: Page, name: string) => page.getByRole('spinbutton', { name, exact: true });

async function setRange(page: Page, param: string, start: number, stop: number, step: number) {
	await page.getByRole('combobox', { name: `${param}: how` }).selectOption('range');
	await number(page, `${param} start`).fill(String(start));
	await number(page, `${param} stop`).fill(String(stop));
	await number(page, `${param} step`).fill(String(step));
}

const heatmap = (page: Page) => page.getByRole('figure', { name: 'Sweep heatmap' });
const cells = async (page: Page) => Number(await heatmap(page).getAttribute('data-cells'));

/** Every change of the heatmap's filled cells, with the sweep's status at that moment. */
async function recordCells(page: Page) {
	await page.evaluate(() => {
		const seen: [number, string][] = [];
		(window as unknown as { qmCells: typeof seen }).qmCells = seen;
		new MutationObserver(() => {
			const figure = document.querySelector('figure[aria-label="Sweep heatmap"]');
			const status = document.querySelector('[data-testid="sweep-status"]')?.textContent ?? '';
			if (figure) seen.push([Number(figure.getAttribute('data-cells')), status]);
		}).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['data-cells'], childList: true });
	});
}

/** The centre of cell (xi, yi) of the heatmap, from its plot margins (y counts up from the bottom). */
async function cellCentre(page: Page, xi: number, yi: number) {
	const figure = heatmap(page);
	const [left, top, right, bottom] = (await figure.getAttribute('data-plot'))!.split(',').map(Number);
	const nx = Number(await figure.getAttribute('data-x-count'));
	const ny = Number(await figure.getAttribute('data-y-count'));
	const box = (await figure.getByRole('img').boundingBox())!;
	const width = box.width - left - right;
	const height = box.height - top - bottom;
	return { x: box.x + left + ((xi + 0.5) * width) / nx, y: box.y + top + height - ((yi + 0.5) * height) / ny };
}

test('a sweep from the form fills the heatmap live, marks the best, opens its trial, whose chart zooms', async ({ page }) => {
	test.setTimeout(180_000);
	await page.setViewportSize({ width: 1500, height: 1000 });
	const server = plain();
	await openSweeps(page, server);
	await page.getByRole('combobox', { name: 'Strategy' }).selectOption('sma_crossover_bars');
	await setRange(page, 'fast', 5, 25, 5);
	await setRange(page, 'slow', 30, 70, 10);
	await number(page, 'Bars').fill('20000');
	await recordCells(page);
	await page.getByRole('button', { name: 'Start sweep' }).click();

	await expect(page.getByTestId('sweep-status')).toHaveText('running');
	await expect(page).toHaveURL(/sweep=/);
	await expect(page.getByTestId('sweep-status')).toHaveText('completed', { timeout: 150_000 });
	await expect(page.getByTestId('sweep-done')).toHaveText('25 / 25');
	expect(await cells(page)).toBe(25);
	const seen = await page.evaluate(() => (window as unknown as { qmCells: [number, string][] }).qmCells);
	// Cells appeared while the sweep ran, not all at the end.
	expect(seen.some(([count, status]) => count > 0 && count < 25 && status === 'running')).toBe(true);

	// The best cell is the top trial's, and the best so far says so.
	const topRow = page.getByRole('region', { name: 'Top trials' }).locator('tbody tr').first();
	const bestId = (await topRow.getAttribute('data-backtest-id'))!;
	const [fast, slow] = await topRow.locator('td').evaluateAll((tds) => tds.slice(1, 3).map((td) => td.textContent));
	const [xi, yi] = (await heatmap(page).getAttribute('data-best'))!.split(',').map(Number);
	expect([[5, 10, 15, 20, 25][xi], [30, 40, 50, 60, 70][yi]]).toEqual([Number(fast), Number(slow)]);
	await expect(page.getByTestId('sweep-best')).toContainText(`fast=${fast}, slow=${slow}`);
	await page.mouse.move(0, 0);
	await page.screenshot({ path: SWEEP_SCREENSHOT });

	// Clicking the best cell lands on that trial's run, which names its sweep and params.
	// The Backtests view lists runs of their own only (?sweep_id=none): no trial floods it.
	const pastRunsListed = page.waitForResponse((r) => r.url().includes('api/v1/backtest?sweep_id=none'));
	const centre = await cellCentre(page, xi, yi);
	await page.mouse.click(centre.x, centre.y);
	await expect(page).toHaveURL(new RegExp(`\\?run=${bestId}`));
	await expect(page.getByRole('region', { name: 'Run details' })).toContainText(bestId);
	await expect(page.getByTestId('run-params')).toContainText(`fast=${fast}, slow=${slow}`);
	await expect(page.getByTestId('run-sweep')).toBeVisible();
	await expect(page.getByTestId('run-status')).toHaveText('completed');
	await expect(page.getByRole('table', { name: 'Statistics' })).toContainText('Sharpe Ratio');
	const listed = (await (await pastRunsListed).json()) as { runs: { sweep_id: string | null }[] };
	expect(listed.runs.every((run) => run.sweep_id === null)).toBe(true);
	await expect(page.getByRole('region', { name: 'Past runs' }).locator(`[data-backtest-id="${bestId}"]`)).toHaveCount(0);

	// Zoom the run chart with the wheel, then back.
	const chart = page.getByRole('img', { name: 'Run chart' });
	await expect(chart).toBeVisible();
	const figure = page.locator('figure.run-chart');
	await expect(figure).toHaveAttribute('data-zoom', '0.0-100.0');
	const box = (await chart.boundingBox())!;
	await page.mouse.move(box.x + box.width / 2, box.y + 120);
	await page.mouse.wheel(0, -600);
	await expect(figure).not.toHaveAttribute('data-zoom', '0.0-100.0');
	await expect(page.getByRole('button', { name: 'Reset zoom' })).toBeVisible();
	await page.mouse.move(box.x + box.width / 2 + 40, box.y + 100); // the hover read-out
	await expect(page.locator('figure.run-chart')).toContainText('Drawdown');
	await figure.screenshot({ path: RUN_CHART_SCREENSHOT });
	await page.getByRole('button', { name: 'Reset zoom' }).click();
	await expect(figure).toHaveAttribute('data-zoom', '0.0-100.0');

	// The trial's sweep link goes back to the sweep, replayed from the server.
	await page.getByTestId('run-sweep').getByRole('link').click();
	await expect(page.getByTestId('sweep-done')).toHaveText('25 / 25');
	await expect.poll(() => cells(page)).toBe(25);
});

test('a sweep whose socket the server keeps cutting shows every trial once, and again after a reload', async ({ page }) => {
	test.setTimeout(180_000);
	await openSweeps(page, cutting());
	await setRange(page, 'fast', 2, 20, 2);
	await setRange(page, 'slow', 22, 40, 2);
	await number(page, 'Bars').fill('3000');
	await page.getByRole('button', { name: 'Start sweep' }).click();
	await expect(page.getByTestId('sweep-status')).toHaveText('completed', { timeout: 150_000 });
	await expect(page.getByTestId('sweep-done')).toHaveText('100 / 100');
	expect(await cells(page)).toBe(100);

	await page.reload();
	await expect(page.getByTestId('sweep-done')).toHaveText('100 / 100');
	await expect.poll(() => cells(page)).toBe(100);
	await expect(page.locator('[aria-current="true"][data-sweep-id]')).toBeVisible();
});
