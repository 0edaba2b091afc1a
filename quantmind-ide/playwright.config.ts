import { defineConfig } from '@playwright/test';

/**
 * End-to-end tests in Debian's Chromium against real `jupyter server` processes with the
 * extension (started by e2e/global-setup.ts). Build the IDE first: `npm run build`.
 */
export default defineConfig({
	// bench/ holds the frame-budget benchmark (`npm run bench:frames`): timings, not tests.
	testDir: process.env.QM_IDE_BENCH ? 'bench' : 'e2e',
	globalSetup: './e2e/global-setup.ts',
	outputDir: 'test-results/e2e',
	timeout: 90_000,
	expect: { timeout: 30_000 },
	forbidOnly: !!process.env.CI,
	fullyParallel: false,
	workers: 1,
	retries: 0,
	reporter: [['list'], ['html', { open: 'never', outputFolder: 'playwright-report' }]],
	use: {
		browserName: 'chromium',
		screenshot: 'only-on-failure',
		trace: 'retain-on-failure',
		launchOptions: {
			executablePath: process.env.CHROMIUM_PATH ?? '/usr/lib/chromium/chromium',
			args: [
				'--headless',
				'--no-sandbox',
				'--disable-gpu',
				'--disable-quic',
				'--no-first-run',
				'--disable-background-networking',
				'--disable-component-update',
				'--disable-sync'
			]
		}
	}
});
