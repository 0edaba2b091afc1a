import { describe, expect, it } from 'vitest';
import { EventSequencer } from './event-sequencer';
import type { BacktestEvent, StreamEvent } from './protocol';

function log(backtestId: string, seq: number): BacktestEvent {
	return {
		type: 'log_entry',
		topic: 'backtest',
		backtest_id: backtestId,
		seq,
		timestamp: '2026-01-01T00:00:00Z',
		data: { level: 'INFO', message: `line ${seq}`, module: 'm', timestamp: '2026-01-01T00:00:00Z' }
	};
}

const seqs = (events: StreamEvent[]) => events.map((event) => event.seq);

describe('EventSequencer', () => {
	it('holds an event that overtook earlier ones of a followed run until they arrive', () => {
		const sequencer = new EventSequencer();
		sequencer.follow('a', 0);
		expect(seqs(sequencer.accept(log('a', 3)))).toEqual([]);
		expect(seqs(sequencer.accept(log('a', 1)))).toEqual([1]);
		expect(seqs(sequencer.accept(log('a', 2)))).toEqual([2, 3]);
		expect(sequencer.cursor('a')).toBe(3);
	});

	it('drops repeats of a followed run', () => {
		const sequencer = new EventSequencer();
		sequencer.follow('a', 2);
		expect(seqs(sequencer.accept(log('a', 2)))).toEqual([]);
		expect(seqs(sequencer.accept(log('a', 3)))).toEqual([3]);
		expect(seqs(sequencer.accept(log('a', 3)))).toEqual([]);
	});

	it('passes runs it does not follow through as they come, minus repeats', () => {
		const sequencer = new EventSequencer();
		expect(seqs(sequencer.accept(log('b', 5)))).toEqual([5]);
		expect(seqs(sequencer.accept(log('b', 5)))).toEqual([]);
		expect(seqs(sequencer.accept(log('b', 7)))).toEqual([7]);
	});

	it('replays from scratch when followed again from 0', () => {
		const sequencer = new EventSequencer();
		sequencer.follow('a', 0);
		sequencer.accept(log('a', 1));
		sequencer.follow('a', 0);
		expect(seqs(sequencer.accept(log('a', 1)))).toEqual([1]);
	});
});
