import { createContext } from 'svelte';
import type { BacktestClient } from './ws-client';

/**
 * The app's one BacktestClient (one `/ws` connection), made by the layout once the page runs
 * in a browser and shared by every view; the layout renders views only once it exists.
 */
const [getClientSource, setClientSource] = createContext<() => BacktestClient | null>();

export const provideClient = setClientSource;

export function useClient(): BacktestClient {
	const client = getClientSource()();
	if (!client) throw new Error('a view rendered before the layout made the client');
	return client;
}
