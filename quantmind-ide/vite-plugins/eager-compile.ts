import type { Plugin } from 'vite';

/** V8's explicit compile hint (Chrome 136+): compile every function of the file as it loads. */
export const EAGER_COMPILE_HINT = '//# allFunctionsCalledOnLoad\n';

/**
 * Marks the chunks that hold `modulePath` (ECharts) for eager compilation. Otherwise V8 compiles
 * each function on its first call: the first chart drawn compiles most of ECharts on the main
 * thread, as one long task in the middle of a live run or sweep. Eagerly, that compiling happens
 * while the chunk loads, off the main thread when the script is streamed.
 */
export function eagerCompile(modulePath: string): Plugin {
	return {
		name: 'qm-eager-compile',
		apply: 'build',
		generateBundle(_options, bundle) {
			for (const file of Object.values(bundle)) {
				if (file.type === 'chunk' && file.moduleIds.some((id) => id.includes(modulePath))) file.code = EAGER_COMPILE_HINT + file.code;
			}
		}
	};
}
