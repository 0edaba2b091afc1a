/**
 * Collects items and hands them over at most once per animation frame. A busy stream delivers
 * each WebSocket message as its own task; rendering after every one of them would fall behind
 * the server, so the page applies them in frame-sized batches instead.
 */
export function frameBatcher<T>(flush: (items: T[]) => void): { push(item: T): void; cancel(): void } {
	let queue: T[] = [];
	let frame: number | null = null;
	const run = () => {
		frame = null;
		const items = queue;
		queue = [];
		flush(items);
	};
	return {
		push(item) {
			queue.push(item);
			frame ??= requestAnimationFrame(run);
		},
		cancel() {
			if (frame !== null) cancelAnimationFrame(frame);
			frame = null;
			queue = [];
		}
	};
}
