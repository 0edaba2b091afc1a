import { describe, expect, it } from 'vitest';
import { jupyterConnection, type PageContext } from './jupyter-page';

function page(href: string, stored: Record<string, string> = {}) {
	const storage = new Map(Object.entries(stored));
	const context = {
		location: { href } as Location,
		history: {
			state: null,
			replaceState: (_state: unknown, _title: string, next: URL | string) => {
				context.location = { href: String(next) } as Location;
			}
		} as unknown as History,
		sessionStorage: {
			getItem: (key: string) => storage.get(key) ?? null,
			setItem: (key: string, value: string) => void storage.set(key, value)
		} as Storage
	} satisfies PageContext;
	return context;
}

describe('jupyterConnection', () => {
	it('cuts the address at quantmind/ to find base_url, keeping its encoding', () => {
		const context = page('http://h:8888/a%40b/quantmind/');
		expect(jupyterConnection(context)).toEqual({ baseUrl: 'http://h:8888/a%40b/', token: undefined });
	});

	it('works at the root base_url', () => {
		expect(jupyterConnection(page('https://h/quantmind/')).baseUrl).toBe('https://h/');
	});

	it('keeps a token from the address for the tab and strips it from the address bar', () => {
		const context = page('http://h/x/quantmind/?token=abc&other=1');
		expect(jupyterConnection(context).token).toBe('abc');
		expect(context.location.href).toBe('http://h/x/quantmind/?other=1');
		expect(jupyterConnection(context).token).toBe('abc');
	});

	it('uses the dev settings when not served by Jupyter', () => {
		const context = page('http://localhost:5173/');
		expect(jupyterConnection(context, { baseUrl: 'http://localhost:8899/', token: 't' })).toEqual({
			baseUrl: 'http://localhost:8899/',
			token: 't'
		});
	});
});
