/**
 * A run's statistics (`backtest_complete.stats`): backtesting.py's `Backtest.run()` figures, then
 * qm's extras, under snake_case keys (`qm_jupyter/engine/stats.py`: `wire_key`, `STAT_NAMES`).
 * Shown under their engine names with the unit their name gives: `[%]` already in percent,
 * `[$]` money, durations in seconds, Start/End ISO 8601; undefined values are null.
 */

import type { StatValue } from './protocol';

/** What a statistic that is undefined (null) or missing shows. */
export const STAT_MISSING = '–';

/** Every statistic's name in the engine's order (`STAT_NAMES` of qm_jupyter/engine/stats.py). */
export const STAT_NAMES = [
	'Start',
	'End',
	'Duration',
	'Exposure Time [%]',
	'Equity Final [$]',
	'Equity Peak [$]',
	'Commissions [$]',
	'Return [%]',
	'Buy & Hold Return [%]',
	'Return (Ann.) [%]',
	'Volatility (Ann.) [%]',
	'CAGR [%]',
	'Sharpe Ratio',
	'Sortino Ratio',
	'Calmar Ratio',
	'Alpha [%]',
	'Beta',
	'Max. Drawdown [%]',
	'Avg. Drawdown [%]',
	'Max. Drawdown Duration',
	'Avg. Drawdown Duration',
	'# Trades',
	'Win Rate [%]',
	'Best Trade [%]',
	'Worst Trade [%]',
	'Avg. Trade [%]',
	'Max. Trade Duration',
	'Avg. Trade Duration',
	'Profit Factor',
	'Expectancy [%]',
	'SQN',
	'Kelly Criterion',
	'Open Trades',
	'Open Trade P&L [$]',
	'Max. Consecutive Wins',
	'Max. Consecutive Losses',
	'# Long Trades',
	'Long Win Rate [%]',
	'Long P&L [$]',
	'# Short Trades',
	'Short Win Rate [%]',
	'Short P&L [$]',
	'Avg. MAE [%]',
	'Worst MAE [%]',
	'Avg. MFE [%]',
	'Best MFE [%]',
	'Periods per Year'
] as const;

/** snake_case of a statistic's name, as the server sends it: 'Return (Ann.) [%]' -> 'return_ann_pct'. */
export function statKey(name: string): string {
	const key = name.replaceAll('P&L', 'PnL').replaceAll('[%]', 'pct').replaceAll('[$]', '').replaceAll('#', '');
	return key
		.replace(/[^0-9a-zA-Z]+/g, '_')
		.replace(/^_+|_+$/g, '')
		.toLowerCase();
}

const NAME_OF_KEY: ReadonlyMap<string, string> = new Map(STAT_NAMES.map((name) => [statKey(name), name]));

/** The engine's name of a wire key; a key it does not know reads as itself. */
export const statName = (key: string): string => NAME_OF_KEY.get(key) ?? key;

/** Statistics that count something: shown whole. */
const COUNTS = new Set<string>([
	'# Trades',
	'# Long Trades',
	'# Short Trades',
	'Open Trades',
	'Max. Consecutive Wins',
	'Max. Consecutive Losses'
]);

const fixed2 = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const ratio3 = new Intl.NumberFormat('en-US', { minimumFractionDigits: 3, maximumFractionDigits: 3 });
const whole = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const upTo2 = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });

/** Seconds as "3d 04h 05m", "4h 05m", "5m 06s", "6s" or "0.25s" (a span of bars or trades). */
export function formatSpan(seconds: number): string {
	if (seconds < 0) return `-${formatSpan(-seconds)}`;
	if (seconds < 10 && !Number.isInteger(seconds)) return `${upTo2.format(seconds)}s`;
	const total = Math.round(seconds);
	const d = Math.floor(total / 86_400);
	const h = Math.floor((total % 86_400) / 3600);
	const m = Math.floor((total % 3600) / 60);
	const s = total % 60;
	const pad = (n: number) => String(n).padStart(2, '0');
	if (d > 0) return m > 0 ? `${d}d ${pad(h)}h ${pad(m)}m` : `${d}d ${pad(h)}h`;
	if (h > 0) return `${h}h ${pad(m)}m`;
	if (m > 0) return `${m}m ${pad(s)}s`;
	return `${s}s`;
}

/** An ISO 8601 time as "2026-01-01 16:39:00" (the data's own clock, no conversion), offset kept. */
export function formatStatTime(iso: string): string {
	const match = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/.exec(iso);
	if (!match) return iso;
	const [, date, time, zone] = match;
	const offset = !zone || zone === 'Z' || /^[+-]00:?00$/.test(zone) ? '' : ` ${zone}`;
	return `${date} ${time}${offset}`;
}

/** One statistic's value as people read it, by what its name says it is. */
export function formatStat(name: string, value: StatValue | undefined): string {
	if (value === null || value === undefined) return STAT_MISSING;
	if (typeof value === 'string') return name === 'Start' || name === 'End' ? formatStatTime(value) : value;
	if (!Number.isFinite(value)) return STAT_MISSING;
	if (name.endsWith('Duration')) return formatSpan(value);
	if (name.endsWith('[%]')) return `${fixed2.format(value)}%`;
	if (name.endsWith('[$]')) return fixed2.format(value);
	if (COUNTS.has(name)) return whole.format(value);
	if (Number.isInteger(value)) return whole.format(value);
	// Sharpe, Sortino, Calmar, Beta, Profit Factor, SQN, Kelly Criterion, Periods per Year, ...
	return Math.abs(value) >= 1000 ? upTo2.format(value) : ratio3.format(value);
}

export interface StatRow {
	key: string;
	name: string;
	value: string;
}

/** Each statistic as a row, in the order the server sent them (the engine's). */
export function statRows(stats: Record<string, StatValue> | null | undefined): StatRow[] {
	return Object.entries(stats ?? {}).map(([key, raw]) => {
		const name = statName(key);
		return { key, name, value: formatStat(name, raw) };
	});
}
