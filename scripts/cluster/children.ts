/**
 * The processes `make cluster` starts (scripts/cluster/cluster.ts): each in a process group of its own
 * (so a Ctrl-C on the terminal reaches the launcher alone, which stops them in order), its output
 * printed line by line behind its name, its exit observed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  readonly pid: number;
  /** Resolves when it has exited, for whatever reason. */
  readonly exited: Promise<Exit>;
  /** The last lines it printed, for an error message. */
  tail(): string;
}

/** Keeps the last lines of a child's output for error messages. */
const TAIL_LINES = 20;

/** Prints each line of the child's stdout and stderr as `name | line` through `print`. */
export function followOutput(child: ChildProcess, name: string, print: (line: string) => void, keep?: string[]): void {
  for (const stream of [child.stdout, child.stderr]) {
    if (stream === null) continue;
    createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
      print(`${name} | ${line}`);
      if (keep === undefined) return;
      keep.push(line);
      if (keep.length > TAIL_LINES) keep.shift();
    });
  }
}

/** util-linux's setpriv, which can give a process a parent-death signal before it execs the command. */
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((path) => existsSync(path));

/** The command prefix that makes a child get SIGTERM when the launcher dies (empty without setpriv). */
export const DIE_WITH_PARENT: readonly string[] = SETPRIV === undefined ? [] : [SETPRIV, '--pdeathsig', 'TERM', '--'];

/**
 * Starts `command args` in a process group of its own, its output through `print`. Through setpriv
 * (when installed) it gets SIGTERM should the launcher die without stopping it (SIGKILL), so it
 * does not outlive the launcher; setpriv execs the command, so the pid is the command's.
 */
export function startChild(name: string, command: string, args: string[], print: (line: string) => void): Child {
  const [file, ...argv] = [...DIE_WITH_PARENT, command, ...args] as [string, ...string[]];
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  const kept: string[] = [];
  followOutput(child, name, print, kept);
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { name, process: child, pid: child.pid, exited, tail: () => kept.join('\n') };
}

export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (hasExited(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export function describeExit({ code, signal }: Exit): string {
  return signal === null ? `exit code ${code}` : `signal ${signal}`;
}
