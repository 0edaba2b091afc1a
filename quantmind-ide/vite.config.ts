import { sveltekit } from '@sveltejs/kit/vite';
import { svelteTesting } from '@testing-library/svelte/vite';
import { defineConfig } from 'vitest/config';
import { eagerCompile } from './vite-plugins/eager-compile';

export default defineConfig({
	plugins: [sveltekit(), eagerCompile('/node_modules/echarts/')],
	test: {
		projects: [
			{
				extends: true,
				plugins: [svelteTesting()],
				test: {
					name: 'components',
					environment: 'jsdom',
					include: ['src/lib/components/**/*.test.ts'],
					setupFiles: ['./src/test-support/vitest-setup.ts']
				}
			},
			{
				// No svelteTesting() here: it makes `ws` resolve to its browser stub.
				extends: true,
				test: {
					name: 'node',
					environment: 'node',
					include: ['src/**/*.test.ts', 'vite-plugins/**/*.test.ts'],
					exclude: ['src/lib/components/**']
				}
			}
		]
	}
});
