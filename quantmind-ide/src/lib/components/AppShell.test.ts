import { fireEvent, render, screen } from '@testing-library/svelte';
import { createRawSnippet, tick } from 'svelte';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ScriptedClient } from '../../test-support/scripted-client';
import AppShell from './AppShell.svelte';

let client: ScriptedClient;

const content = createRawSnippet(() => ({ render: () => '<p>the view</p>' }));
const views = [
	{ href: '/quantmind/', label: 'Backtests', current: true },
	{ href: '/quantmind/sweeps', label: 'Sweeps', current: false }
];

/** jsdom has no matchMedia: this one answers prefers-color-scheme as the test says. */
function systemPrefers(scheme: 'light' | 'dark') {
	vi.stubGlobal('matchMedia', (query: string) => ({
		matches: query === `(prefers-color-scheme: ${scheme})`,
		addEventListener: () => {},
		removeEventListener: () => {}
	}));
}

const theme = () => document.documentElement.dataset.theme;

beforeEach(() => {
	client = new ScriptedClient();
	localStorage.clear();
	delete document.documentElement.dataset.theme;
	systemPrefers('light');
});

afterEach(() => {
	vi.unstubAllGlobals();
});

describe('AppShell', () => {
	it('lays out a navigation of views around the current one', () => {
		render(AppShell, { client, views, children: content });
		const nav = screen.getByRole('navigation', { name: 'Views' });
		expect(screen.getByRole('link', { name: 'Backtests' })).toHaveAttribute('aria-current', 'page');
		expect(screen.getByRole('link', { name: 'Sweeps' })).not.toHaveAttribute('aria-current');
		expect(nav.querySelectorAll('a')).toHaveLength(2);
		expect(screen.getByText('the view')).toBeInTheDocument();
	});

	it('shows the connection state and counts reconnects', async () => {
		render(AppShell, { client, views, children: content });
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

describe('theme', () => {
	it("follows the system's light or dark until toggled, and remembers the choice", async () => {
		render(AppShell, { client, views, children: content });
		expect(theme()).toBeUndefined(); // Pico follows prefers-color-scheme

		await fireEvent.click(screen.getByRole('button', { name: 'Switch to dark theme' }));
		expect(theme()).toBe('dark');
		expect(localStorage.getItem('qm-theme')).toBe('dark');

		// Back to what the system shows: follow the system again.
		await fireEvent.click(screen.getByRole('button', { name: 'Switch to light theme' }));
		expect(theme()).toBeUndefined();
		expect(localStorage.getItem('qm-theme')).toBeNull();
	});

	it('offers light on a dark system', async () => {
		systemPrefers('dark');
		render(AppShell, { client, views, children: content });
		await tick();
		expect(screen.getByRole('button', { name: 'Switch to light theme' })).toBeInTheDocument();
		expect(theme()).toBeUndefined();
	});

	it('applies a remembered choice on load', async () => {
		localStorage.setItem('qm-theme', 'dark');
		render(AppShell, { client, views, children: content });
		await tick();
		expect(theme()).toBe('dark');
		expect(screen.getByRole('button', { name: 'Switch to light theme' })).toBeInTheDocument();
	});
});
