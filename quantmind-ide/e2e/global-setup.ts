import { startJupyter } from './jupyter-server';

/**
 * Two servers: a plain one, and one whose slow-consumer protection is tightened until it cuts
 * the IDE's socket mid-run (code 4008, the server's own behaviour), so the IDE must resume the
 * run's stream. QM_E2E_CUT_ARGS overrides the settings that make it cut.
 */
export default async function globalSetup() {
	const cutArgs = (
		process.env.QM_E2E_CUT_ARGS ??
		'--QuantMindExtension.subscriber_buffer=1 --QuantMindExtension.slow_client_timeout=0.001'
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
