import { describe, expect, it } from 'vitest';
import { STATS } from '../test-support/fixtures';
import { formatSpan, formatStat, formatStatTime, STAT_MISSING, STAT_NAMES, statKey, statName, statRows } from './stats';

describe('stat names', () => {
	it("turn into the server's snake_case keys (qm_jupyter.engine.stats.wire_key)", () => {
		expect(statKey('Return (Ann.) [%]')).toBe('return_ann_pct');
		expect(statKey('# Trades')).toBe('trades');
		expect(statKey('Equity Final [$]')).toBe('equity_final');
		expect(statKey('Open Trade P&L [$]')).toBe('open_trade_pnl');
		expect(statKey('Buy & Hold Return [%]')).toBe('buy_hold_return_pct');
		expect(statKey('Max. Drawdown Duration')).toBe('max_drawdown_duration');
		expect(new Set(STAT_NAMES.map(statKey)).size).toBe(STAT_NAMES.length);
	});

	it('come back from the keys; an unknown key reads as itself', () => {
		expect(statName('sharpe_ratio')).toBe('Sharpe Ratio');
		expect(statName('trades')).toBe('# Trades');
		expect(statName('long_pnl')).toBe('Long P&L [$]');
		expect(statName('some_new_stat')).toBe('some_new_stat');
	});
});

describe('formatStat', () => {
	it('shows undefined (null), missing and non-finite values as a dash', () => {
		expect(STAT_MISSING).toBe('–');
		expect(formatStat('Sharpe Ratio', null)).toBe('–');
		expect(formatStat('Return [%]', undefined)).toBe('–');
		expect(formatStat('Max. Drawdown Duration', null)).toBe('–');
		expect(formatStat('Start', null)).toBe('–');
		expect(formatStat('Beta', Number.NaN)).toBe('–');
	});

	it('shows [%] figures (already in percent) with a percent sign', () => {
		expect(formatStat('Return [%]', 5.234)).toBe('5.23%');
		expect(formatStat('Max. Drawdown [%]', -3.21)).toBe('-3.21%');
		expect(formatStat('Exposure Time [%]', 50)).toBe('50.00%');
		expect(formatStat('Volatility (Ann.) [%]', 1234.5)).toBe('1,234.50%');
	});

	it('shows [$] figures as money', () => {
		expect(formatStat('Equity Final [$]', 10_523.4)).toBe('10,523.40');
		expect(formatStat('Commissions [$]', 0)).toBe('0.00');
		expect(formatStat('Long P&L [$]', -95.608)).toBe('-95.61');
	});

	it('shows durations (seconds) in days, hours, minutes and seconds', () => {
		expect(formatStat('Duration', 59_940)).toBe('16h 39m');
		expect(formatStat('Max. Trade Duration', 3240)).toBe('54m 00s');
		expect(formatStat('Avg. Trade Duration', 1578.947)).toBe('26m 19s');
		expect(formatStat('Avg. Drawdown Duration', 45)).toBe('45s');
		expect(formatStat('Duration', 3 * 86_400 + 4 * 3600)).toBe('3d 04h');
		expect(formatStat('Duration', 400 * 86_400 + 5 * 60)).toBe('400d 00h 05m');
		expect(formatStat('Avg. Trade Duration', 0.25)).toBe('0.25s');
		expect(formatStat('Max. Drawdown Duration', 0)).toBe('0s');
		expect(formatSpan(-90)).toBe('-1m 30s');
	});

	it('shows counts whole and ratios with three decimals', () => {
		expect(formatStat('# Trades', 1234)).toBe('1,234');
		expect(formatStat('Max. Consecutive Wins', 2)).toBe('2');
		expect(formatStat('Open Trades', 0)).toBe('0');
		expect(formatStat('Sharpe Ratio', 1.23456)).toBe('1.235');
		expect(formatStat('Kelly Criterion', -0.17998)).toBe('-0.180');
		expect(formatStat('Profit Factor', 12_345.678)).toBe('12,345.68');
		expect(formatStat('Periods per Year', 252_000)).toBe('252,000');
		expect(formatStat('Periods per Year', 8760.5)).toBe('8,760.5');
	});

	it('shows Start and End on the data clock, an offset other than UTC kept', () => {
		expect(formatStat('Start', '2026-01-01T00:00:00+00:00')).toBe('2026-01-01 00:00:00');
		expect(formatStat('End', '2026-01-01T16:39:00Z')).toBe('2026-01-01 16:39:00');
		expect(formatStat('End', '2026-01-01T16:39:00.123456')).toBe('2026-01-01 16:39:00');
		expect(formatStatTime('2026-03-01T09:30:00-05:00')).toBe('2026-03-01 09:30:00 -05:00');
		expect(formatStatTime('not a time')).toBe('not a time');
	});
});

describe('statRows', () => {
	it("gives a row per statistic in the server's order, named and formatted", () => {
		const rows = statRows(STATS);
		expect(rows.map((row) => row.key)).toEqual(Object.keys(STATS));
		expect(rows[0]).toEqual({ key: 'start', name: 'Start', value: '2026-01-01 00:00:00' });
		expect(rows.find((row) => row.key === 'sharpe_ratio')).toEqual({ key: 'sharpe_ratio', name: 'Sharpe Ratio', value: '1.234' });
		expect(rows.find((row) => row.key === 'trades')).toEqual({ key: 'trades', name: '# Trades', value: '7' });
		expect(rows.find((row) => row.key === 'calmar_ratio')?.value).toBe('–');
	});

	it('is empty without stats', () => {
		expect(statRows(undefined)).toEqual([]);
		expect(statRows(null)).toEqual([]);
		expect(statRows({})).toEqual([]);
	});
});
