/**
 * The parent side of the process harness: every benchmark process (the Bridge, senders, receivers,
 * member groups, baselines) is a child forked with `--import tsx` and an IPC channel that carries
 * typed calls and events (bench/lib/worker.ts is the child side).
 *
 * Nothing hangs and nothing is orphaned:
 * - every call has a timeout, and every pending call of a process fails at once, with the tail of its
 *   stderr, when that process exits unexpectedly;
 * - a child exits when its IPC channel closes (the parent died), see worker.ts;
 * - every live child is SIGKILLed when the parent exits, and `ProcGroup.close()` stops a scenario's
 *   processes (politely, then SIGKILL) whatever happened.
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtProc } from './bundle.ts';

/** bench/procs, where the child scripts live. */
export const PROCS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'procs');

const DEFAULT_CALL_TIMEOUT_MS = 60_000;
const DEFAULT_READY_TIMEOUT_MS = 30_000;
/** A profiled process (BENCH_CPU_PROF) needs seconds at exit to write its profile: it gets longer. */
const STOP_GRACE_MS = process.env.BENCH_CPU_PROF ? 20_000 : 3_000;
/** Bytes of each child's stdout/stderr kept for error messages. */
const OUTPUT_TAIL_BYTES = 4096;

const live = new Set<ChildProcess>();

/**
 * `BENCH_TRACE=1`: a line on stderr for each process start (fork to ready) and each call that took
 * 100 ms or more, with the time since the run began: where a step's wall time goes
 * (docs/operations/benchmarks.md, "Wall time").
 */
const TRACE = process.env.BENCH_TRACE === '1';
const TRACE_CALL_MIN_MS = 100;
function trace(line: string, sinceMs: number): void {
  if (!TRACE) return;
  const now = performance.now();
  process.stderr.write(`[trace ${(now / 1000).toFixed(2)} s] ${line} ${(now - sinceMs).toFixed(0)} ms\n`);
}

/**
 * `BENCH_CPU_PROF=<regex>` profiles the processes whose name matches (node --cpu-prof); the profiles
 * land in `BENCH_CPU_PROF_DIR/<name>/` (default bench/results/profiles) when the process shuts down.
 */
/**
 * Where a process's diagnostic report goes when a call to it times out: every child runs with
 * `--report-on-signal`, and the timeout sends it SIGUSR2 first, so the report (with the main thread's
 * JavaScript stack) shows what it was doing.
 */
export const REPORT_DIR = join(PROCS_DIR, '..', 'results', 'reports');
const REPORT_FLAGS = ['--report-on-signal', '--report-signal=SIGUSR2', `--report-directory=${REPORT_DIR}`];

function profileFlags(name: string): string[] {
  const pattern = process.env.BENCH_CPU_PROF;
  if (pattern === undefined || pattern === '' || !new RegExp(pattern).test(name)) return [];
  const dir = process.env.BENCH_CPU_PROF_DIR ?? join(PROCS_DIR, '..', 'results', 'profiles');
  // One folder per process: the tsx loader thread writes a profile of its own beside the main thread's.
  return ['--cpu-prof', `--cpu-prof-dir=${join(dir, name)}`];
}
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  mkdirSync(REPORT_DIR, { recursive: true });
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const child of live) child.kill('SIGKILL');
      process.exit(130);
    });
  }
}

export interface ForkOptions {
  /** A name for messages ("receivers-2"). */
  name: string;
  /** JSON-serializable arguments; the child reads them with `workerArgs()`. */
  args?: unknown;
  /** Extra node flags (the tsx loader is always added). */
  nodeFlags?: string[];
  readyTimeoutMs?: number;
  /**
   * CPUs the process may run on, as `taskset -c` takes them ("0", "0,1", "2-3"): a server measured
   * beside its clients gets a core of its own, so its figures are its own. When `taskset` is missing
   * or cannot pin here, the process runs unpinned and `Proc.cpus` is undefined: say so in the results.
   */
  cpus?: string;
  /**
   * Run a `bench/procs/*.ts` script through the tsx loader instead of built (bench/lib/bundle.ts): for a
   * figure about the loader itself. `BENCH_TSX=1` runs every script through tsx (stack traces then
   * point at the sources).
   */
  tsx?: boolean;
}

/** BENCH_TSX=1: every proc script through tsx, none built. */
const ALL_THROUGH_TSX = process.env.BENCH_TSX === '1';

let tasksetWorks: boolean | undefined;

/** Whether `taskset` (util-linux) exists and may pin processes here (checked once). */
export function canPin(): boolean {
  tasksetWorks ??= spawnSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' }).status === 0;
  return tasksetWorks;
}

/** The CPUs a process may run on, as `taskset -c` lists them ("0,1"), or undefined without taskset. */
export function affinityOf(pid: number): string | undefined {
  if (!canPin()) return undefined;
  const out = spawnSync('taskset', ['-c', '-p', String(pid)], { encoding: 'utf8' });
  const match = /affinity list:\s*(\S+)/.exec(out.stdout ?? '');
  return out.status === 0 && match !== null ? match[1] : undefined;
}

/**
 * Pins every thread of a running process (`taskset -a -p -c`), the benchmark process itself for one;
 * threads it starts later inherit the pinning. Returns false when it could not.
 */
export function pinProcess(pid: number, cpus: string): boolean {
  if (!canPin()) return false;
  return spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' }).status === 0;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
  method: string;
}

type ChildMessage =
  | { type: 'ready'; info: unknown }
  | { type: 'result'; id: number; ok: true; value: unknown }
  | { type: 'result'; id: number; ok: false; error: { message: string; stack?: string } }
  | { type: 'event'; name: string; data: unknown }
  | { type: 'fatal'; error: { message: string; stack?: string } };

let procTrustDirs = 0;

/**
 * The environment of a benchmark process: each its own trust folder under the run's (bench/run.ts sets
 * SEALROOM_TRUST_DIR), as each is a device of its own. An identity's trust store is held by one process
 * at a time (docs/security/key-trust.md, "One instance per identity"), and the benchmark's own process
 * often uses the identities its children use too.
 */
function procEnv(): NodeJS.ProcessEnv {
  const base = process.env.SEALROOM_TRUST_DIR;
  if (base === undefined || base === '') return process.env;
  return { ...process.env, SEALROOM_TRUST_DIR: join(base, `proc-${process.pid}-${++procTrustDirs}`) };
}

export class Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** The CPUs it is pinned to (`ForkOptions.cpus`), undefined when it runs unpinned. */
  readonly cpus: string | undefined;
  /** Resolves when the process has exited (expectedly or not). */
  readonly exited: Promise<void>;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Map<string, Set<(data: unknown) => void>>();
  private stderrTail = '';
  private stdoutTail = '';
  private death: Error | undefined;
  private stopping = false;
  private readyResolve!: (info: unknown) => void;
  private readyReject!: (error: Error) => void;
  /** Resolves with the child's `ready` info. */
  readonly ready: Promise<unknown>;

  constructor(script: string, options: ForkOptions) {
    installExitHook();
    this.name = options.name;
    this.ready = new Promise((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    this.ready.catch(() => undefined);
    // A built script (.mjs, bench/lib/bundle.ts) runs on plain node; TypeScript goes through tsx.
    const execArgv = [...(script.endsWith('.mjs') ? [] : ['--import', 'tsx']), ...REPORT_FLAGS, ...(options.nodeFlags ?? []), ...profileFlags(options.name)];
    const argv = [JSON.stringify(options.args ?? null)];
    this.cpus = options.cpus !== undefined && canPin() ? options.cpus : undefined;
    const env = procEnv();
    this.child =
      this.cpus === undefined
        ? fork(script, argv, { execArgv, env, serialization: 'advanced', stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
        : // What fork() runs, through taskset, which execs node in the same process: the same pid and
          // IPC channel, every thread pinned from the start.
          spawn('taskset', ['-c', this.cpus, process.execPath, ...execArgv, script, ...argv], {
            env,
            serialization: 'advanced',
            stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
          });
    if (this.child.pid === undefined) throw new Error(`${this.name}: fork failed`);
    this.pid = this.child.pid;
    live.add(this.child);
    this.child.stdout!.setEncoding('utf8').on('data', (text: string) => (this.stdoutTail = (this.stdoutTail + text).slice(-OUTPUT_TAIL_BYTES)));
    this.child.stderr!.setEncoding('utf8').on('data', (text: string) => (this.stderrTail = (this.stderrTail + text).slice(-OUTPUT_TAIL_BYTES)));
    this.child.on('message', (message: ChildMessage) => this.onMessage(message));
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        live.delete(this.child);
        if (!this.stopping) {
          this.die(new Error(`${this.name} (pid ${this.pid}) exited unexpectedly (code ${code}, signal ${signal})${this.outputTail()}`));
        } else {
          this.die(new Error(`${this.name} (pid ${this.pid}) was stopped`));
        }
        resolve();
      });
    });
    const readyTimer = setTimeout(
      () =>
        this.die(
          new Error(`${this.name} (pid ${this.pid}) was not ready after ${options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS} ms${this.outputTail()}`),
          true,
        ),
      options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
    );
    const forkedAt = performance.now();
    this.ready.then(
      () => {
        clearTimeout(readyTimer);
        trace(`${this.name} ready`, forkedAt);
      },
      () => clearTimeout(readyTimer),
    );
  }

  /** The error the process died with, if it did. */
  get error(): Error | undefined {
    return this.death;
  }

  /** The last 4 KiB of what it printed on stderr and stdout (a Bridge's error log, for a failure message). */
  output(): string {
    return this.outputTail();
  }

  private outputTail(): string {
    const parts = [];
    if (this.stderrTail.trim() !== '') parts.push(`stderr: ${this.stderrTail.trim()}`);
    if (this.stdoutTail.trim() !== '') parts.push(`stdout: ${this.stdoutTail.trim()}`);
    return parts.length === 0 ? '' : `\n--- ${this.name} ${parts.join('\n')}`;
  }

  private onMessage(message: ChildMessage): void {
    switch (message.type) {
      case 'ready':
        return this.readyResolve(message.info);
      case 'result': {
        const pending = this.pending.get(message.id);
        if (pending === undefined) return;
        this.pending.delete(message.id);
        clearTimeout(pending.timer);
        if (message.ok) pending.resolve(message.value);
        else {
          const error = new Error(`${this.name}.${pending.method}: ${message.error.message}`);
          if (message.error.stack !== undefined) error.stack = `${error.message}\n--- in ${this.name}: ${message.error.stack}`;
          pending.reject(error);
        }
        return;
      }
      case 'event':
        for (const listener of this.listeners.get(message.name) ?? []) listener(message.data);
        return;
      case 'fatal':
        return this.die(new Error(`${this.name} (pid ${this.pid}) failed: ${message.error.stack ?? message.error.message}`), true);
      default: {
        const never: never = message;
        throw new Error(`unknown message from ${this.name}: ${JSON.stringify(never)}`);
      }
    }
  }

  /** Records the death, fails everything pending, and (when asked) kills the process. */
  private die(error: Error, kill = false): void {
    this.death ??= error;
    this.readyReject(this.death);
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      this.pending.delete(id);
      pending.reject(this.death);
    }
    if (kill) this.kill();
  }

  /** Calls a handler of the child; rejects on its error, on timeout, or when the child dies. */
  call<T = unknown>(method: string, params?: unknown, timeoutMs = DEFAULT_CALL_TIMEOUT_MS): Promise<T> {
    if (this.death !== undefined) return Promise.reject(this.death);
    const id = this.nextId++;
    const calledAt = performance.now();
    const answer = new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        const state = describeThreads(this.pid);
        const reported = this.child.exitCode === null && this.child.signalCode === null && this.child.kill('SIGUSR2');
        const report = reported ? `; a diagnostic report of pid ${this.pid} is being written to ${REPORT_DIR}` : '';
        reject(new Error(`${this.name}.${method}: no answer after ${timeoutMs} ms (threads: ${state}${report})${this.outputTail()}`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer, method });
      this.child.send({ type: 'call', id, method, params: params ?? null }, (error) => {
        if (error === null || error === undefined) return;
        const pending = this.pending.get(id);
        if (pending === undefined) return;
        this.pending.delete(id);
        clearTimeout(timer);
        reject(new Error(`${this.name}.${method}: could not send the call: ${error.message}`));
      });
    });
    if (TRACE) {
      const done = () => {
        if (performance.now() - calledAt >= TRACE_CALL_MIN_MS) trace(`${this.name}.${method}`, calledAt);
      };
      answer.then(done, done);
    }
    return answer;
  }

  /** Listens to the child's events; returns the function that stops listening. */
  on(event: string, listener: (data: unknown) => void): () => void {
    let set = this.listeners.get(event);
    if (set === undefined) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Resident set size of the process, from /proc/<pid>/status (VmRSS), in bytes. */
  rssBytes(): number {
    return readRssBytes(this.pid);
  }

  /** CPU time the process has used (user + system), from /proc/<pid>/stat, in milliseconds. */
  cpuMs(): number {
    return readCpuMs(this.pid);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.stopping = true;
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  /** Asks the child to shut down (its `shutdown` handler), then kills it if it has not exited. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.stopping = true;
    const grace = new Promise<void>((resolve) => setTimeout(resolve, STOP_GRACE_MS).unref());
    if (this.death === undefined) this.call('shutdown', undefined, STOP_GRACE_MS).catch(() => undefined);
    await Promise.race([this.exited, grace]);
    this.kill();
    await this.exited;
  }
}

/** VmRSS of a process, in bytes. */
export function readRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (match === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/**
 * What each thread of a process is doing, from /proc: name, state (R running, S sleeping), CPU ms and
 * the kernel wait channel. A main thread asleep in `futex_wait` with no CPU while a call hangs points at
 * a synchronous wait (Atomics.wait: the module loader's hooks thread, for one); one in state R at a
 * busy loop.
 */
export function describeThreads(pid: number): string {
  try {
    return readdirSync(`/proc/${pid}/task`)
      .map((tid) => {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const cpu = ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
        let wchan = '';
        try {
          wchan = readFileSync(`/proc/${pid}/task/${tid}/wchan`, 'utf8');
        } catch {
          // not readable here
        }
        return `${name}[${fields[0]}${wchan === '' || wchan === '0' ? '' : ` ${wchan}`} ${cpu}ms]`;
      })
      .join(' ');
  } catch (error) {
    return `unavailable (${(error as Error).message})`;
  }
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/** utime + stime of a process, in milliseconds. */
export function readCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
}

/**
 * CPU time of every live thread of a process, from /proc/<pid>/task/<tid>/schedstat (nanoseconds on
 * the CPU), in milliseconds: finer than `readCpuMs`'s 10 ms ticks, for a process that uses a few
 * percent of a core. Threads that have exited are not counted (Node's threads live as long as it).
 */
export function readCpuPreciseMs(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread exited between the listing and the read
    }
  }
  return ns / 1e6;
}

/**
 * The processes of one scenario. `close()` always stops all of them; use it in a `finally`.
 * @example
 * const group = new ProcGroup();
 * try { const bridge = await startBridge(group); ... } finally { await group.close(); }
 */
export class ProcGroup {
  private readonly procs = new Set<Proc>();

  /**
   * Forks `bench/procs/<script>` (or an absolute path, such as a build from bench/lib/bundle.ts) and
   * waits for its `ready`; returns the process and its ready info.
   */
  async fork<I = unknown>(script: string, options: ForkOptions): Promise<{ proc: Proc; info: I }> {
    // Built, a process starts in about a third of the CPU time of one through tsx, and runs the same code.
    const path = isAbsolute(script) ? script : script.endsWith('.ts') && !(options.tsx ?? ALL_THROUGH_TSX) ? await builtProc(script) : join(PROCS_DIR, script);
    const proc = new Proc(path, options);
    this.procs.add(proc);
    const info = (await proc.ready) as I;
    return { proc, info };
  }

  /** Forks several at once. */
  forkAll<I = unknown>(script: string, list: ForkOptions[]): Promise<Array<{ proc: Proc; info: I }>> {
    return Promise.all(list.map((options) => this.fork<I>(script, options)));
  }

  async close(): Promise<void> {
    const procs = [...this.procs];
    this.procs.clear();
    await Promise.all(procs.map((p) => p.stop()));
  }
}
