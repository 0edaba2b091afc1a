import { startJupyter } from './jupyter-server';

/**
 * Two servers: a plain one, and one that closes every WebSocket after a second
 * (`ws_max_connection_age`, code 1001), so the IDE must resume a run's stream mid-run.
 * QM_E2E_CUT_ARGS overrides the settings that make it cut.
 */
export default async function globalSetup() {
	const cutArgs = (
		process.env.QM_E2E_CUT_ARGS ??
		'--QuantMindExtension.ws_max_connection_age=1'
	).split(' ');
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
