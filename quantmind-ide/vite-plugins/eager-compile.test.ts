import { describe, expect, it } from 'vitest';
import { EAGER_COMPILE_HINT, eagerCompile } from './eager-compile';

type File = { type: 'chunk' | 'asset'; code?: string; moduleIds?: string[] };

function build(bundle: Record<string, File>) {
	const hook = eagerCompile('/node_modules/echarts/').generateBundle as (options: unknown, bundle: Record<string, File>) => void;
	hook({}, bundle);
	return bundle;
}

describe('eagerCompile', () => {
	it('puts the compile hint on the first line of the chunks holding the module, and nowhere else', () => {
		const bundle = build({
			'charts.js': { type: 'chunk', code: 'import{a}from"./b.js";', moduleIds: ['/app/src/lib/charts/echarts.ts', '/app/node_modules/echarts/lib/core/echarts.js'] },
			'app.js': { type: 'chunk', code: 'export const x=1;', moduleIds: ['/app/src/routes/+page.svelte'] },
			'app.css': { type: 'asset' }
		});
		expect(bundle['charts.js'].code).toBe(`${EAGER_COMPILE_HINT}import{a}from"./b.js";`);
		expect(bundle['charts.js'].code!.split('\n')[0]).toBe('//# allFunctionsCalledOnLoad');
		expect(bundle['app.js'].code).toBe('export const x=1;');
		expect(bundle['app.css']).toEqual({ type: 'asset' });
	});
});
