import { describe, expect, it } from 'vitest';
import { LevelFilter, type LogLine } from './log-filter';
import type { LogLevel } from './protocol';

const line = (seq: number, level: LogLevel): LogLine => ({
	seq,
	level,
	message: `m${seq}`,
	module: 'x',
	timestamp: ''
});

describe('LevelFilter', () => {
	it('keeps lines at or above the level and picks up appended lines', () => {
		const source = [line(1, 'DEBUG'), line(2, 'INFO'), line(3, 'ERROR')];
		const filter = new LevelFilter();
		expect(filter.linesAtLeast(source, 'INFO').map((l) => l.seq)).toEqual([2, 3]);
		source.push(line(4, 'WARNING'), line(5, 'DEBUG'));
		expect(filter.linesAtLeast(source, 'INFO').map((l) => l.seq)).toEqual([2, 3, 4]);
		expect(filter.linesAtLeast(source, 'ERROR').map((l) => l.seq)).toEqual([3]);
		expect(filter.linesAtLeast(source, 'DEBUG')).toBe(source);
	});

	it('starts over for a different source', () => {
		const filter = new LevelFilter();
		filter.linesAtLeast([line(1, 'ERROR')], 'ERROR');
		expect(filter.linesAtLeast([line(7, 'ERROR')], 'ERROR').map((l) => l.seq)).toEqual([7]);
	});
});
