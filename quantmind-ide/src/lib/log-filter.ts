import type { LogLevel } from './protocol';

export interface LogLine {
	seq: number;
	level: LogLevel;
	message: string;
	module: string;
	timestamp: string;
}

export const LOG_LEVELS: readonly LogLevel[] = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'];

const rank = (level: string): number => {
	const index = LOG_LEVELS.indexOf(level as LogLevel);
	// An unknown level is shown at every filter setting rather than lost.
	return index < 0 ? LOG_LEVELS.length : index;
};

/**
 * The lines at or above a level, kept up to date incrementally: with an append-only source
 * of 100,000 lines, each new line costs O(1) and only a level change rescans.
 */
export class LevelFilter {
	private source: LogLine[] | null = null;
	private level: LogLevel = 'DEBUG';
	private scanned = 0;
	private kept: LogLine[] = [];

	linesAtLeast(source: LogLine[], level: LogLevel): LogLine[] {
		if (level === 'DEBUG') return source;
		if (source !== this.source || level !== this.level) {
			this.source = source;
			this.level = level;
			this.scanned = 0;
			this.kept = [];
		}
		const min = rank(level);
		for (; this.scanned < source.length; this.scanned++) {
			const line = source[this.scanned];
			if (rank(line.level) >= min) this.kept.push(line);
		}
		return this.kept;
	}
}
