import { expect, test, type Page } from '@playwright/test';

const SCREENSHOT = 'test-results/ide-completed.png';
const SCREENSHOT_DARK = 'test-results/ide-completed-dark.png';

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

/** Open the IDE as a user who followed Jupyter's tokenized link. */
async function openIde(page: Page, server: Server) {
	await page.goto(`${server.baseUrl}quantmind/?token=${server.token}`);
	await expect(page.getByRole('status').filter({ hasText: 'Connected' })).toBeVisible();
	await expect(page.getByRole('combobox', { name: 'Strategy' })).toHaveValue('sma_crossover');
}

async function setNumber(page: Page, name: string, value: number) {
	await page.getByRole('spinbutton', { name, exact: true }).fill(String(value));
}

const progressbar = (page: Page) => page.getByRole('progressbar');
const runButton = (page: Page) => page.getByRole('button', { name: 'Run', exact: true });
const paramValue = (page: Page, name: string) => page.getByRole('spinbutton', { name, exact: true }).inputValue();
const pastRun = (page: Page, id: string) => page.locator(`[data-backtest-id="${id}"]`);
const metric = (page: Page, label: string) =>
	page.getByLabel('Results').locator('dt', { hasText: new RegExp(`^${label}$`) }).locator('+ dd');
const selectedRunId = (page: Page) =>
	page.locator('[aria-current="true"][data-backtest-id]').getAttribute('data-backtest-id');

async function expectMetrics(page: Page) {
	for (const label of ['Final balance', 'Total return', 'Trades', 'Win rate', 'Sharpe', 'Max drawdown']) {
		await expect(metric(page, label)).toHaveText(/\d/);
	}
}

const stat = (page: Page, name: string) =>
	page
		.getByRole('table', { name: 'Statistics' })
		.locator('tr', { has: page.getByRole('rowheader', { name, exact: true }) })
		.locator('td');

/** The statistics table of a completed run: backtesting.py's names, formatted values. */
async function expectStats(page: Page) {
	await expect(page.getByRole('table', { name: 'Statistics' })).toBeVisible();
	await expect(stat(page, 'Sharpe Ratio')).toHaveText(/^(-?[\d,]+\.\d{3}|–)$/);
	await expect(stat(page, '# Trades')).toHaveText(/^[\d,]+$/);
	await expect(stat(page, 'Return [%]')).toHaveText(/^-?[\d,]+\.\d\d%$/);
	await expect(stat(page, 'Duration')).toHaveText(/^\d+[dhms]/);
}

async function storedLogSeqs(page: Page, server: Server, backtestId: string): Promise<number[]> {
	const response = await page.request.get(`${server.baseUrl}api/v1/backtest/${backtestId}/events?since=0`, {
		headers: { Authorization: `token ${server.token}` }
	});
	expect(response.ok()).toBe(true);
	const { events } = (await response.json()) as { events: Array<{ type: string; seq: number }> };
	return events.filter((event) => event.type === 'log_entry').map((event) => event.seq);
}

/** Scroll the virtualized log panel top to bottom and collect the seq of every row shown. */
function logSeqsInPanel(page: Page): Promise<number[]> {
	return page.getByRole('log').evaluate(async (viewport) => {
		const frame = () => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
		const seen = new Set<number>();
		viewport.scrollTop = 0;
		await frame();
		for (;;) {
			for (const row of viewport.querySelectorAll<HTMLElement>('li[data-seq]')) seen.add(Number(row.dataset.seq));
			if (viewport.scrollTop + viewport.clientHeight >= viewport.scrollHeight - 1) break;
			viewport.scrollTop += viewport.clientHeight;
			await frame();
		}
		return [...seen].sort((a, b) => a - b);
	});
}

test('runs sma_crossover on sample data to 100% with the metrics, then replays it', async ({ page }) => {
	const server = plain();
	await openIde(page, server);
	expect(page.url()).not.toContain('token=');

	const defaults = `fast=${await paramValue(page, 'fast')}, slow=${await paramValue(page, 'slow')}`;
	await runButton(page).click();
	await expect(progressbar(page)).toHaveAttribute('aria-valuenow', '100');
	await expect(page.getByTestId('run-status')).toHaveText('completed');
	await expectMetrics(page);
	await expectStats(page);
	await expect(page.getByRole('img', { name: 'Run chart' })).toBeVisible();
	await expect(page.getByRole('log')).toContainText('Backtest complete'); // auto-scrolled to the end
	await expect(page.getByTestId('run-params')).toHaveText(defaults);
	const logCount = await page.getByTestId('log-count').textContent();

	// A fresh page (token now kept for the tab) replays the run from its stored events.
	const backtestId = (await selectedRunId(page))!;
	await page.reload();
	await pastRun(page, backtestId).click();
	await expect(progressbar(page)).toHaveAttribute('aria-valuenow', '100');
	await expectMetrics(page);
	await expectStats(page);
	await expect(page.getByTestId('log-count')).toHaveText(logCount!);
});

test('a past run shows its params and data, in the list too, and fills the form to run it again', async ({ page }) => {
	await page.setViewportSize({ width: 1440, height: 900 });
	await openIde(page, plain());
	await setNumber(page, 'fast', 5);
	await setNumber(page, 'slow', 50);
	await setNumber(page, 'Bars', 3000);
	await setNumber(page, 'Commission', 0.001);
	await runButton(page).click();
	await expect(page.getByTestId('run-status')).toHaveText('completed');
	const first = (await selectedRunId(page))!;

	await setNumber(page, 'fast', 8);
	await setNumber(page, 'slow', 40);
	await setNumber(page, 'Bars', 2000);
	await runButton(page).click();
	await expect.poll(() => selectedRunId(page)).not.toBe(first);
	await expect(page.getByTestId('run-status')).toHaveText('completed');
	const second = (await selectedRunId(page))!;

	// Same strategy, told apart by params and data.
	await expect(pastRun(page, first)).toContainText('fast=5, slow=50');
	await expect(pastRun(page, first)).toContainText('3,000 bars');
	await expect(pastRun(page, second)).toContainText('fast=8, slow=40');
	await expect(pastRun(page, second)).toContainText('2,000 bars');

	await pastRun(page, first).click();
	await expect(page.getByTestId('run-params')).toHaveText('fast=5, slow=50');
	await expect(page.getByTestId('run-data')).toContainText('3,000 bars');
	await expect(page.getByRole('region', { name: 'Run details' })).toContainText('0.001');
	await expect(page.getByRole('spinbutton', { name: 'fast', exact: true })).toHaveValue('5');
	await expect(page.getByRole('spinbutton', { name: 'slow', exact: true })).toHaveValue('50');
	await expect(page.getByRole('spinbutton', { name: 'Bars' })).toHaveValue('3000');
	await expect(page.getByRole('spinbutton', { name: 'Commission' })).toHaveValue('0.001');

	// Run again: the same request as the first run.
	await runButton(page).click();
	await expect.poll(() => selectedRunId(page)).not.toBe(first);
	await expect(page.getByTestId('run-status')).toHaveText('completed');
	const again = (await selectedRunId(page))!;
	expect(again).not.toBe(second);
	await expect(page.getByTestId('run-params')).toHaveText('fast=5, slow=50');
	await expect(pastRun(page, again)).toContainText('3,000 bars');

	// The README's screenshots: a finished run among past ones, in the system's light and dark.
	await page.screenshot({ path: SCREENSHOT, fullPage: true });
	await page.emulateMedia({ colorScheme: 'dark' });
	// Pico eases colour changes: let them finish.
	await page.evaluate(() => Promise.all(document.getAnimations().map((animation) => animation.finished)));
	await page.screenshot({ path: SCREENSHOT_DARK, fullPage: true });
});

test('limits come from the server: bars = 1 runs, catalogue bounds and 400s mark the field until it is fixed', async ({
	page
}) => {
	await openIde(page, plain());
	const alert = page.getByRole('alert');

	// Below the catalogue's min for fast (2): said at the field, nothing sent.
	await setNumber(page, 'fast', 1);
	await runButton(page).click();
	await expect(alert).toHaveText('fast must be ≥ 2.');
	await expect(page.getByRole('spinbutton', { name: 'fast', exact: true })).toHaveAttribute('aria-invalid', 'true');

	// Within bounds but refused by the server (fast must be below slow): its 400 names params.fast.
	await setNumber(page, 'fast', 50);
	await expect(alert).toHaveCount(0);
	await runButton(page).click();
	await expect(alert).toContainText('must be less than slow');
	await expect(page.getByRole('spinbutton', { name: 'fast', exact: true })).toHaveAttribute('aria-invalid', 'true');
	await setNumber(page, 'fast', 10);
	await expect(alert).toHaveCount(0);

	// A file that is not there: the server's 400 names `data`.
	await page.getByRole('radio', { name: /File under/ }).check();
	await page.getByRole('textbox', { name: 'Path' }).fill('missing.csv');
	await runButton(page).click();
	await expect(page.getByRole('group', { name: 'Data' }).getByRole('alert')).toContainText("'missing.csv' does not exist");
	await page.getByRole('radio', { name: 'Sample prices' }).check();
	await expect(alert).toHaveCount(0);

	// One bar is a valid sample for the server, so the browser must not refuse it.
	await setNumber(page, 'Bars', 1);
	await runButton(page).click();
	await expect(page.getByTestId('run-status')).toHaveText('completed');
	await expect(page.getByTestId('run-data')).toContainText('1 bars');
});

test('follows the system theme, and the toggle overrides it for the next visits', async ({ page }) => {
	await page.emulateMedia({ colorScheme: 'dark' });
	await openIde(page, plain());
	const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
	const dark = await background();
	await page.getByRole('button', { name: 'Switch to light theme' }).click();
	await expect(page.locator('html')).toHaveAttribute('data-theme', 'light');
	expect(await background()).not.toBe(dark);
	await page.reload();
	await expect(page.locator('html')).toHaveAttribute('data-theme', 'light');
	await expect(page.getByRole('button', { name: 'Switch to dark theme' })).toBeVisible();
});

test('runs with the login cookie and XSRF when there is no token', async ({ page }) => {
	const server = plain();
	await openIde(page, server); // Jupyter sets its login cookie on the tokenized request
	await page.evaluate(() => sessionStorage.clear());
	await page.goto(`${server.baseUrl}quantmind/`);
	await expect(page.getByRole('status').filter({ hasText: 'Connected' })).toBeVisible();
	await setNumber(page, 'Bars', 2000);
	await runButton(page).click();
	await expect(page.getByTestId('run-status')).toHaveText('completed');
});

test('cancels a long run', async ({ page }) => {
	await openIde(page, plain());
	// The per-bar twin of sma_crossover: 20 s or more for 12M bars, so Cancel lands mid-run
	// even when the page shows progress a few seconds after the server.
	await page.getByLabel('Strategy').selectOption('sma_crossover_bars');
	await setNumber(page, 'fast', 50);
	await setNumber(page, 'slow', 200);
	await setNumber(page, 'Bars', 12_000_000);
	await runButton(page).click();
	await expect(progressbar(page)).not.toHaveAttribute('aria-valuenow', '0');
	await page.getByRole('button', { name: 'Cancel' }).click();
	// The server stops the run within a second or two; the page may still be catching up on its events.
	await expect(page.getByTestId('run-status')).toHaveText('cancelled', { timeout: 60_000 });
	await expect(page.getByText(/Cancelled after [\d,]+ bars/)).toBeVisible();
	expect(Number(await progressbar(page).getAttribute('aria-valuenow'))).toBeLessThan(100);
});

test('a WebSocket cut by the server mid-run resumes with every log line once', async ({ page }) => {
	const server = cutting();
	await openIde(page, server);
	// That server closes every socket after a second (ws_max_connection_age); a per-bar run
	// of a few seconds is cut several times.
	await page.getByLabel('Strategy').selectOption('sma_crossover_bars');
	await setNumber(page, 'fast', 50);
	await setNumber(page, 'slow', 200);
	await setNumber(page, 'Bars', 2_000_000);
	await runButton(page).click();
	await expect(page.getByTestId('run-status')).toHaveText('completed', { timeout: 60_000 });

	const reconnects = Number(await page.getByRole('status').getAttribute('data-reconnects'));
	test.info().annotations.push({ type: 'reconnects', description: String(reconnects) });
	expect(reconnects, 'the server should have cut the socket at least once').toBeGreaterThanOrEqual(1);

	const expected = await storedLogSeqs(page, server, (await selectedRunId(page))!);
	expect(expected.length).toBeGreaterThan(10);
	await expect(page.getByTestId('log-count')).toHaveText(`${expected.length} lines`);
	expect(await logSeqsInPanel(page)).toEqual(expected);
});
