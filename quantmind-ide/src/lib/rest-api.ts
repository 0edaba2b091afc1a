import type {
	BacktestRequest,
	RunAccepted,
	RunRecord,
	StrategySpec,
	SweepAccepted,
	SweepRequest,
	SweepSummary
} from './protocol';

/** Which runs `listRuns` asks for (`GET api/v1/backtest?sweep_id=`); every run when empty. */
export interface RunListFilter {
	/** `'none'`: runs that are not sweep trials; a sweep's id: that sweep's trials. */
	sweepId?: string;
}

/** How REST calls authenticate: a Jupyter token, or (cookie login) the `_xsrf` cookie on POSTs. */
export interface RestAuth {
	token?: string;
	/** The XSRF value for POSTs; defaults to the page's `_xsrf` cookie. */
	xsrfToken?: () => string | undefined;
}

/**
 * A 4xx/5xx answer; `message` is the server's own explanation when it gave one, `field` the
 * request field it blames (`params.fast`, `data`, ...).
 */
export class ApiError extends Error {
	constructor(
		readonly status: number,
		message: string,
		readonly field: string | null = null
	) {
		super(message);
		this.name = 'ApiError';
	}
}

function cookieValue(name: string): string | undefined {
	if (typeof document === 'undefined') return undefined;
	const match = document.cookie.match(new RegExp(`(?:^|;\\s*)${name}=([^;]*)`));
	return match ? decodeURIComponent(match[1]) : undefined;
}

/** The backtest REST API of one Jupyter server; `baseUrl` is the server's base_url, ending in '/'. */
export class RestApi {
	private readonly xsrfToken: () => string | undefined;

	constructor(
		private readonly baseUrl: URL,
		private readonly auth: RestAuth = {},
		private readonly fetchImpl: typeof fetch = (...args) => globalThis.fetch(...args)
	) {
		this.xsrfToken = auth.xsrfToken ?? (() => cookieValue('_xsrf'));
	}

	runBacktest(request: BacktestRequest): Promise<RunAccepted> {
		return this.request('POST', 'api/v1/backtest/run', request);
	}

	async cancel(backtestId: string): Promise<void> {
		await this.request('POST', `api/v1/backtest/${encodeURIComponent(backtestId)}/cancel`);
	}

	getRun(backtestId: string): Promise<RunRecord> {
		return this.request('GET', `api/v1/backtest/${encodeURIComponent(backtestId)}`);
	}

	/** Runs, newest first; `sweepId: 'none'` only those that are no sweep's trial, a sweep's id only its trials. */
	async listRuns(filter: RunListFilter = {}): Promise<RunRecord[]> {
		const query = filter.sweepId === undefined ? '' : `?sweep_id=${encodeURIComponent(filter.sweepId)}`;
		const body = await this.request<{ runs: RunRecord[] }>('GET', `api/v1/backtest${query}`);
		return body.runs;
	}

	async strategies(): Promise<StrategySpec[]> {
		const body = await this.request<{ strategies: StrategySpec[] }>('GET', 'api/v1/strategies');
		return body.strategies;
	}

	runSweep(request: SweepRequest): Promise<SweepAccepted> {
		return this.request('POST', 'api/v1/sweep/run', request);
	}

	async cancelSweep(sweepId: string): Promise<void> {
		await this.request('POST', `api/v1/sweep/${encodeURIComponent(sweepId)}/cancel`);
	}

	async listSweeps(): Promise<SweepSummary[]> {
		const body = await this.request<{ sweeps: SweepSummary[] }>('GET', 'api/v1/sweep');
		return body.sweeps;
	}

	private async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
		const headers: Record<string, string> = { Accept: 'application/json' };
		if (this.auth.token) {
			headers.Authorization = `token ${this.auth.token}`;
		} else if (method === 'POST') {
			const xsrf = this.xsrfToken();
			if (xsrf) headers['X-XSRFToken'] = xsrf;
		}
		if (body !== undefined) headers['Content-Type'] = 'application/json';
		const response = await this.fetchImpl(new URL(path, this.baseUrl), {
			method,
			headers,
			body: body === undefined ? undefined : JSON.stringify(body),
			credentials: 'same-origin'
		});
		const text = await response.text();
		const parsed: unknown = text ? safeJson(text) : undefined;
		if (!response.ok) {
			const { message, field } = (parsed ?? {}) as { message?: unknown; field?: unknown };
			throw new ApiError(
				response.status,
				typeof message === 'string' ? message : `${method} ${path} failed: HTTP ${response.status}`,
				typeof field === 'string' ? field : null
			);
		}
		return parsed as T;
	}
}

function safeJson(text: string): unknown {
	try {
		return JSON.parse(text);
	} catch {
		return undefined;
	}
}
