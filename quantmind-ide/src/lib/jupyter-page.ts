/** Where the Jupyter server is and how to authenticate, worked out from the page's own address. */

export interface JupyterConnection {
	/** The server's base_url as an absolute URL ending in '/'. */
	baseUrl: string;
	/** A Jupyter token, or undefined to rely on the login cookie (plus XSRF on POSTs). */
	token?: string;
}

/** Settings for the dev server, where the page is not served by Jupyter. */
export interface DevDefaults {
	baseUrl?: string;
	token?: string;
}

export type PageContext = Pick<Window, 'location' | 'history' | 'sessionStorage'>;

const TOKEN_KEY = 'qm-jupyter-token';
/** The path at which the extension serves this app, under base_url. */
const APP_SEGMENT = 'quantmind/';

/**
 * A `?token=` on the page address is kept for this tab and removed from the address bar so it
 * does not end up in bookmarks or screenshots. Served by Jupyter at `{base_url}quantmind/`, the
 * base URL is the address cut before `quantmind/`.
 */
export function jupyterConnection(page: PageContext, dev: DevDefaults = {}): JupyterConnection {
	const url = new URL(page.location.href);

	const tokenInUrl = url.searchParams.get('token');
	if (tokenInUrl) {
		page.sessionStorage.setItem(TOKEN_KEY, tokenInUrl);
		url.searchParams.delete('token');
		page.history.replaceState(page.history.state, '', url);
	}
	const token = tokenInUrl || page.sessionStorage.getItem(TOKEN_KEY) || dev.token || undefined;

	const cut = url.pathname.lastIndexOf(`/${APP_SEGMENT}`);
	const baseUrl =
		cut >= 0 ? `${url.origin}${url.pathname.slice(0, cut + 1)}` : (dev.baseUrl ?? `${url.origin}/`);
	return { baseUrl, token };
}
