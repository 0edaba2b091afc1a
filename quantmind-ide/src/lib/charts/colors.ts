/** The page's theme colours (Pico's variables), for drawing on a canvas that CSS cannot style. */
export interface ChartColors {
	text: string;
	muted: string;
	grid: string;
	primary: string;
	gain: string;
	loss: string;
	background: string;
}

export function chartColors(element: Element): ChartColors {
	const style = getComputedStyle(element);
	const read = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
	return {
		text: read('--pico-color', '#373c44'),
		muted: read('--pico-muted-color', '#646b79'),
		grid: read('--pico-muted-border-color', '#e7eaf0'),
		primary: read('--pico-primary', '#0172ad'),
		gain: read('--pico-ins-color', '#398712'),
		loss: read('--pico-del-color', '#c52f21'),
		background: read('--pico-card-background-color', '#ffffff')
	};
}
