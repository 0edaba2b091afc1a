/** Start and stop a real `jupyter server` with the qm_jupyter extension, for the e2e tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const IDE_BUILD = resolve(import.meta.dirname, '../../qm_jupyter/static/ide');

export interface RunningJupyter {
	/** The server's base URL, ending in '/'. */
	baseUrl: string;
	token: string;
	logFile: string;
	stop(): Promise<void>;
}

function freePort(): Promise<number> {
	return new Promise((done, fail) => {
		const probe = createServer();
		probe.once('error', fail);
		probe.listen(0, '127.0.0.1', () => {
			const { port } = probe.address() as { port: number };
			probe.close(() => done(port));
		});
	});
}

async function waitUntilServing(url: string, token: string, child: ChildProcess, logFile: string) {
	const deadline = Date.now() + 60_000;
	while (Date.now() < deadline) {
		if (child.exitCode !== null) throw new Error(`jupyter server exited early; see ${logFile}`);
		try {
			const response = await fetch(`${url}api/v1/strategies`, { headers: { Authorization: `token ${token}` } });
			if (response.ok) return;
		} catch {
			// not listening yet
		}
		await new Promise((r) => setTimeout(r, 250));
	}
	throw new Error(`jupyter server did not answer at ${url} within 60 s; see ${logFile}`);
}

/**
 * A server on a free port with a token, a fresh root_dir and run database, and `basePath`
 * as base_url; `extraArgs` are more `--Class.trait=value` settings.
 */
export async function startJupyter(name: string, basePath: string, extraArgs: string[] = []): Promise<RunningJupyter> {
	if (!existsSync(join(IDE_BUILD, 'index.html'))) {
		throw new Error(`No IDE build in ${IDE_BUILD}: run \`npm run build\` first.`);
	}
	const port = await freePort();
	const token = `e2e-${name}-${process.pid}`;
	const root = mkdtempSync(join(tmpdir(), `qm-e2e-${name}-`));
	const logFile = join(root, 'jupyter.log');
	const log = openSync(logFile, 'w');
	const jupyter = process.env.JUPYTER ?? 'jupyter';
	const child = spawn(
		jupyter,
		[
			'server',
			'--allow-root', // these machines run everything as root
			'--no-browser',
			'--ip=127.0.0.1',
			`--port=${port}`,
			'--port-retries=0',
			`--ServerApp.token=${token}`,
			`--ServerApp.root_dir=${root}`,
			`--ServerApp.base_url=${basePath}`,
			`--QuantMindExtension.db_path=${join(root, 'runs.sqlite')}`,
			`--QuantMindExtension.ide_dir=${IDE_BUILD}`,
			...extraArgs
		],
		{ stdio: ['ignore', log, log], env: { ...process.env, JUPYTER_CONFIG_DIR: join(root, 'config') } }
	);
	const baseUrl = `http://127.0.0.1:${port}${basePath}`;
	try {
		await waitUntilServing(baseUrl, token, child, logFile);
	} catch (error) {
		child.kill('SIGKILL');
		throw error;
	}
	return {
		baseUrl,
		token,
		logFile,
		async stop() {
			if (child.exitCode === null) {
				const exited = new Promise((r) => child.once('exit', r));
				child.kill('SIGTERM');
				const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
				await exited;
				clearTimeout(timer);
			}
			if (!process.env.QM_E2E_KEEP) rmSync(root, { recursive: true, force: true });
		}
	};
}
