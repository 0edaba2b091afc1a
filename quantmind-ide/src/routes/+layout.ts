// Built to static files that the Jupyter extension serves.
export const prerender = true;
