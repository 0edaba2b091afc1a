// Built to static files that the Jupyter extension serves.
export const prerender = true;
// Each view is a folder with an index.html (quantmind/sweeps/), which a static file server finds.
export const trailingSlash = 'always';
