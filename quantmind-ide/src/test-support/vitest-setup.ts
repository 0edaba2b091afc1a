import { vi } from 'vitest';
import '@testing-library/jest-dom/vitest';

// jsdom has no layout and no ResizeObserver (which `bind:contentRect` uses): sizes stay 0.
globalThis.ResizeObserver ??= class {
	observe() {}
	unobserve() {}
	disconnect() {}
};

// jsdom has no canvas: charts get a stand-in that keeps the last option each was given.
vi.mock('$lib/charts/echarts', async () => (await import('./fake-echarts')).fakeEcharts);
