/** A stand-in for `$lib/charts/echarts` in jsdom (no canvas): charts keep what they were told. */
import type { ChartOption } from '../lib/charts/echarts';

export class FakeChart {
	option: ChartOption | null = null;
	readonly handlers = new Map<string, (params: unknown) => void>();
	readonly actions: unknown[] = [];

	constructor(readonly element: HTMLElement) {}

	setOption(option: ChartOption): void {
		this.option = option;
	}
	getOption(): ChartOption | null {
		return this.option;
	}
	on(event: string, handler: (params: unknown) => void): void {
		this.handlers.set(event, handler);
	}
	dispatchAction(action: unknown): void {
		this.actions.push(action);
	}
	resize(): void {}
	dispose(): void {
		charts.delete(this);
	}
}

/** The charts on the page now. */
export const charts = new Set<FakeChart>();

export const fakeEcharts = {
	init(element: HTMLElement) {
		const chart = new FakeChart(element);
		charts.add(chart);
		return chart;
	}
};
