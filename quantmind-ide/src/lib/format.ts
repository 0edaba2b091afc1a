/** Display formats for numbers that may be missing (undefined metrics are null, never NaN). */

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
