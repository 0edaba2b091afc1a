import adapter from '@sveltejs/adapter-static';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** @type {import('@sveltejs/kit').Config} */
const config = {
	preprocess: vitePreprocess(),
	kit: {
		// The extension serves this folder at {base_url}quantmind/, so assets must be relative.
		adapter: adapter({ pages: '../qm_jupyter/static/ide', assets: '../qm_jupyter/static/ide', strict: true }),
		paths: { relative: true }
	}
};

export default config;
