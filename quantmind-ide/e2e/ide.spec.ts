import { expect, test, type Page } from '@playwright/test';

const SCREENSHOT = 'test-results/ide-completed.png';

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
const metric = (page: Page, label: string) =>
	page.getByLabel('Results').locator('dt', { hasText: new RegExp(`^${label}$`) }).locator('+ dd');
const selectedRunId = (page: Page) =>
	page.locator('[aria-current="true"][data-backtest-id]').getAttribute('data-backtest-id');

async function expectMetrics(page: Page) {
	for (const label of ['Final balance', 'Total return', 'Trades', 'Win rate', 'Sharpe', 'Max drawdown']) {
		await expect(metric(page, label)).toHaveText(/\d/);
	}
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

	await page.getByRole('button', { name: 'Run' }).click();
	await expect(progressbar(page)).toHaveAttribute('aria-valuenow', '100');
	await expect(page.getByTestId('run-status')).toHaveText('completed');
	await expectMetrics(page);
	await expect(page.getByRole('img', { name: 'Equity curve' })).toBeVisible();
	await expect(page.getByRole('log')).toContainText('Backtest complete'); // auto-scrolled to the end
	const logCount = await page.getByTestId('log-count').textContent();
	await page.screenshot({ path: SCREENSHOT, fullPage: true });

	// A fresh page (token now kept for the tab) replays the run from its stored events.
	const backtestId = await selectedRunId(page);
	await page.reload();
	await page.locator(`[data-backtest-id="${backtestId}"]`).click();
	await expect(progressbar(page)).toHaveAttribute('aria-valuenow', '100');
	await expectMetrics(page);
	await expect(page.getByTestId('log-count')).toHaveText(logCount!);
});

test('runs with the login cookie and XSRF when there is no token', async ({ page }) => {
	const server = plain();
	await openIde(page, server); // Jupyter sets its login cookie on the tokenized request
	await page.evaluate(() => sessionStorage.clear());
	await page.goto(`${server.baseUrl}quantmind/`);
	await expect(page.getByRole('status').filter({ hasText: 'Connected' })).toBeVisible();
	await setNumber(page, 'Bars', 2000);
	await page.getByRole('button', { name: 'Run' }).click();
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
	await page.getByRole('button', { name: 'Run' }).click();
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
	await page.getByRole('button', { name: 'Run' }).click();
	await expect(page.getByTestId('run-status')).toHaveText('completed', { timeout: 60_000 });

	const reconnects = Number(await page.getByRole('status').getAttribute('data-reconnects'));
	test.info().annotations.push({ type: 'reconnects', description: String(reconnects) });
	expect(reconnects, 'the server should have cut the socket at least once').toBeGreaterThanOrEqual(1);

	const expected = await storedLogSeqs(page, server, (await selectedRunId(page))!);
	expect(expected.length).toBeGreaterThan(10);
	await expect(page.getByTestId('log-count')).toHaveText(`${expected.length} lines`);
	expect(await logSeqsInPanel(page)).toEqual(expected);
});
