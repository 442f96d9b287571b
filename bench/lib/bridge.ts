/**
 * Starting the Bridge process (bench/procs/bridge.ts) and reading its figures: URL and operator key,
 * RSS from /proc, and the Bridge-side time of HTTP requests.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManageClient, type CreateBridgeOptions } from '../../bridge/index.ts';
import type { BridgeProcArgs, HttpTiming } from '../procs/bridge.ts';
import { bundleBridge } from './bundle.ts';
import type { Proc, ProcGroup } from './procs.ts';

export type { HttpTiming };

export interface BridgeProc {
  proc: Proc;
  url: string;
  apiKey: string;
  pid: number;
  manage: ManageClient;
  /** VmRSS of the Bridge process, bytes. */
  rssBytes(): number;
  /** Runs a full GC in the Bridge (it is started with --expose-gc) and returns process.memoryUsage(). */
  memory(): Promise<NodeJS.MemoryUsage & { connections: number }>;
  recordTimings(): Promise<void>;
  takeTimings(prefix?: string): Promise<HttpTiming[]>;
}

/** Options for the Bridge under benchmark: defaults, but no per-address limit (every client is 127.0.0.1). */
export const BENCH_BRIDGE_OPTIONS: Partial<CreateBridgeOptions> = {
  limits: {
    // Every benchmark client logs in from 127.0.0.1; no benchmark should meet a login limit.
    loginFailuresPerAddress: 1_000_000,
    // Thousands of benchmark connections share 127.0.0.1.
    connectionsPerAddress: 1_000_000,
    // The CRUD benchmark writes as fast as the Bridge answers, from a few users.
    writesPerUserPerMinute: 1_000_000,
  },
  // The benchmarks measure the Bridge's work, not its refusals: on a loaded machine the overload guard
  // (docs/operations/limits.md, "Overload") would turn away a scenario's own setup. A scenario that
  // measures the guard passes its own `overload`.
  overload: { enabled: false },
};

/**
 * Starts the Bridge in its own process, pinned to `cpus` when given (ForkOptions.cpus). By default it
 * runs built (`bundleBridge()`, on plain node, as `make run` runs dist/); `script: 'bridge.ts'` runs it
 * through the tsx loader (as bin/sealroom.js does), and any other `script` is the path of a build.
 */
export async function startBridgeProc(
  group: ProcGroup,
  options: Partial<CreateBridgeOptions> = {},
  { name = 'bridge', script, nodeFlags = [], cpus }: { name?: string; script?: string; nodeFlags?: string[]; cpus?: string } = {},
): Promise<BridgeProc> {
  const path = script ?? (await bundleBridge());
  const dataDir = mkdtempSync(join(tmpdir(), 'sealroom-bench-'));
  const merged: Partial<CreateBridgeOptions> = {
    ...BENCH_BRIDGE_OPTIONS,
    ...options,
    limits: { ...BENCH_BRIDGE_OPTIONS.limits, ...options.limits },
  };
  const args: BridgeProcArgs = { dataDir, options: merged };
  let forked: { proc: Proc; info: { url: string; apiKey: string; pid: number } };
  try {
    // `bridge.ts` by name runs through tsx (the memory scenario reports the loader's cost); a build by path on plain node.
    forked = await group.fork(path, {
      name,
      args,
      nodeFlags: ['--expose-gc', ...nodeFlags],
      tsx: path === 'bridge.ts',
      ...(cpus === undefined ? {} : { cpus }),
    });
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  const { proc, info } = forked;
  void proc.exited.then(() => rmSync(dataDir, { recursive: true, force: true }));
  return {
    proc,
    url: info.url,
    apiKey: info.apiKey,
    pid: info.pid,
    manage: new ManageClient(info.url, info.apiKey),
    rssBytes: () => proc.rssBytes(),
    memory: () => proc.call('memory'),
    recordTimings: async () => {
      await proc.call('recordTimings');
    },
    takeTimings: (prefix?: string) => proc.call<HttpTiming[]>('takeTimings', prefix === undefined ? {} : { prefix }),
  };
}
