import '@testing-library/jest-dom/vitest';

// jsdom has no layout and no ResizeObserver (which `bind:clientHeight` uses): sizes stay 0.
globalThis.ResizeObserver ??= class {
	observe() {}
	unobserve() {}
	disconnect() {}
};
