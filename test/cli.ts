/**
 * The `sealroom` command in a child process, as operators run it (`node bin/sealroom.js ...`): one-shot
 * commands with their exit code and output, and `start` as a Bridge process that a test can kill.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../bin/sealroom.js', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** How long one command or a Bridge's start may take before the test fails, in milliseconds. */
const CLI_TIMEOUT_MS = 30_000;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `sealroom <args>` to completion. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      signal: AbortSignal.timeout(CLI_TIMEOUT_MS),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface BridgeProcess {
  child: ChildProcess;
  url: string;
  /** The operator key printed on the first start. */
  apiKey: string;
  /** Resolves with the exit code or signal once the process has ended. */
  exited: Promise<number | NodeJS.Signals | null>;
  /** What it printed on stderr until it was ready (the quick start). */
  startText: string;
}

/** `sealroom start` on a new database in `dataDir`, on port 0; resolves once it prints its URL and key. */
export function startBridgeProcess(dataDir: string, extraArgs: string[] = []): Promise<BridgeProcess> {
  const child = spawn(process.execPath, [BIN, 'start', '--data-dir', dataDir, '--port', '0', '--log-level', 'warn', ...extraArgs], {
    cwd: ROOT,
    env: { ...process.env, SEALROOM_API_KEY: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  return new Promise((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sealroom start printed no URL in ${CLI_TIMEOUT_MS} ms: ${stderr}`));
    }, CLI_TIMEOUT_MS);
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const url = /export SEALROOM_URL=(\S+)/.exec(stderr)?.[1];
      const apiKey = /export SEALROOM_API_KEY=(\S+)/.exec(stderr)?.[1];
      if (url !== undefined && apiKey !== undefined) {
        clearTimeout(timer);
        resolve({ child, url, apiKey, exited, startText: stderr });
      }
    });
    void exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`sealroom start ended (${String(how)}) before it was ready: ${stderr}`));
    });
  });
}
