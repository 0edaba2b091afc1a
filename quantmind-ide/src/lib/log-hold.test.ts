import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HOLD_MS, LogHold } from './log-hold';

describe('LogHold', () => {
	let shown: string[][];
	let hold: LogHold<string>;

	beforeEach(() => {
		vi.useFakeTimers();
		shown = [];
		hold = new LogHold((lines) => shown.push(lines));
	});
	afterEach(() => vi.useRealTimers());

	it('shows lines at once before the first progress point: no counts to disagree with', () => {
		hold.line('loading');
		expect(shown).toEqual([['loading']]);
	});

	it('holds lines after a progress point until the next one, and shows them with it', () => {
		hold.progress();
		hold.line('trade 91');
		hold.line('trade 92');
		expect(shown).toEqual([]);
		hold.progress();
		expect(shown).toEqual([['trade 91', 'trade 92']]);
	});

	it('shows held lines after 1 s when no progress point comes', () => {
		hold.progress();
		hold.line('slow');
		vi.advanceTimersByTime(HOLD_MS - 1);
		expect(shown).toEqual([]);
		vi.advanceTimersByTime(1);
		expect(shown).toEqual([['slow']]);
		hold.line('next');
		vi.advanceTimersByTime(HOLD_MS);
		expect(shown).toEqual([['slow'], ['next']]);
	});

	it('shows nothing after dispose', () => {
		hold.progress();
		hold.line('gone');
		hold.dispose();
		vi.advanceTimersByTime(HOLD_MS * 2);
		expect(shown).toEqual([]);
	});
});
