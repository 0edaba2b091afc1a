import { startJupyter } from './jupyter-server';

/**
 * Two servers: a plain one, and one that cuts every /ws connection after a short time from
 * the server side, so a run's stream is cut mid-run and the IDE must resume it.
 * QM_E2E_CUT_ARGS overrides the setting that does the cutting.
 */
export default async function globalSetup() {
	const cutArgs = (process.env.QM_E2E_CUT_ARGS ?? '--QuantMindExtension.ws_max_connection_age=1.5').split(' ');
	const [plain, cutting] = await Promise.all([
		startJupyter('plain', '/a%40b/'),
		startJupyter('cut', '/', cutArgs)
	]);
	// Tests read these in the worker processes.
	process.env.QM_E2E_URL = plain.baseUrl;
	process.env.QM_E2E_TOKEN = plain.token;
	process.env.QM_E2E_CUT_URL = cutting.baseUrl;
	process.env.QM_E2E_CUT_TOKEN = cutting.token;
	return async () => {
		await Promise.all([plain.stop(), cutting.stop()]);
	};
}
