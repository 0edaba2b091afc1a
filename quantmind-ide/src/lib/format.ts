/** Display formats: numbers that may be missing (undefined metrics are null, never NaN), run requests. */

import type { ParamValue, StoredRequest } from './protocol';

const MISSING = '—';

const money = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const whole = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const ratio = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });

const present = (value: number | null | undefined): value is number =>
	typeof value === 'number' && Number.isFinite(value);

export const formatMoney = (value: number | null | undefined): string =>
	present(value) ? money.format(value) : MISSING;

/** A signed amount, e.g. "+12.50" / "-3.00". */
export const formatSignedMoney = (value: number | null | undefined): string =>
	present(value) ? `${value > 0 ? '+' : ''}${money.format(value)}` : MISSING;

export const formatCount = (value: number | null | undefined): string =>
	present(value) ? whole.format(value) : MISSING;

/** A fraction as a percentage: 0.1234 -> "12.34%". */
export const formatPercent = (fraction: number | null | undefined): string =>
	present(fraction) ? `${ratio.format(fraction * 100)}%` : MISSING;

export const formatRatio = (value: number | null | undefined): string =>
	present(value) ? ratio.format(value) : MISSING;

/** Seconds as "1h 02m", "3m 05s" or "12s". */
export function formatDuration(seconds: number | null | undefined): string {
	if (!present(seconds)) return MISSING;
	const total = Math.max(0, Math.round(seconds));
	const h = Math.floor(total / 3600);
	const m = Math.floor((total % 3600) / 60);
	const s = total % 60;
	const pad = (n: number) => String(n).padStart(2, '0');
	if (h > 0) return `${h}h ${pad(m)}m`;
	if (m > 0) return `${m}m ${pad(s)}s`;
	return `${s}s`;
}

/** A stored ISO time as "2026-01-01 12:34:56" (as the server wrote it, no conversion). */
export const formatWhen = (iso: string): string => iso.replace('T', ' ').slice(0, 19);

/** A run's params as `fast=10, slow=30`, in the order the run gave them. */
export function formatParams(params: Record<string, ParamValue> | undefined): string {
	const entries = Object.entries(params ?? {});
	return entries.length ? entries.map(([name, value]) => `${name}=${value}`).join(', ') : 'no params';
}

/** A run's data source in a few words: a file, a sample's size, or a notebook's DataFrame. */
export function formatData(data: StoredRequest['data']): string {
	if (!data) return MISSING;
	if ('path' in data) return data.path;
	if ('dataframe' in data) return `DataFrame, ${whole.format(data.dataframe.rows)} rows`;
	const details = [`${whole.format(data.bars)} bars`, data.freq, data.seed != null && `seed ${data.seed}`];
	return `${data.sample.toUpperCase()} sample, ${details.filter(Boolean).join(', ')}`;
}

/** The colour class of a figure whose sign matters (see `.gain` / `.loss` in styles/app.css). */
export const toneOf = (value: number | null | undefined): '' | 'gain' | 'loss' =>
	!present(value) || value === 0 ? '' : value > 0 ? 'gain' : 'loss';

/** A sweep metric as people read it: fractions as percentages, counts whole, Sharpe as a ratio. */
export function formatMetric(key: string, value: number | null | undefined): string {
	if (key === 'total_return' || key === 'max_drawdown' || key === 'win_rate') return formatPercent(value);
	if (key === 'final_balance') return formatMoney(value);
	if (key === 'total_trades' || key === 'bars') return formatCount(value);
	return formatRatio(value);
}
