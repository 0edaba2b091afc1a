/**
 * A plot exactly where its margins put it. ECharts 6's default (`outerBoundsMode: 'auto'`) lays
 * every axis out twice on each update, measuring all labels to fit them in the container; the
 * IDE's margins already leave them room, and a live chart updates a few times a second.
 */
export const FIXED_GRID = { outerBoundsMode: 'none' } as const;
