/**
 * A stream peer process (./stream-peer.ts) as tests drive it: spawned with its config, its JSON lines
 * collected, and awaited by event (endpoint/data-streams/data-streams-processes.test.ts and
 * data-streams-starved.test.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PeerConfig } from './stream-peer.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

export type Message = { event: string } & Record<string, unknown>;

/** One peer process and what it printed. */
let peers = 0;

export class Peer {
  readonly messages: Message[] = [];
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  private stderr = '';
  private listeners: Array<() => void> = [];

  constructor(config: PeerConfig) {
    this.child = spawn(process.execPath, ['--import', 'tsx', 'test/procs/stream-peer.ts', JSON.stringify(config)], {
      cwd: REPO,
      // A device of its own: the test's process may hold the same identity's store (one holder at a time).
      env: { ...process.env, SEALROOM_TRUST_DIR: join(process.env.SEALROOM_TRUST_DIR ?? tmpdir(), `peer-${process.pid}-${++peers}`) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buffered = '';
    this.child.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString();
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        this.messages.push(JSON.parse(buffered.slice(0, nl)) as Message);
        buffered = buffered.slice(nl + 1);
        for (const l of this.listeners) l();
      }
    });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  /** The first message of `event` (matching `predicate`), waiting up to `timeoutMs`. */
  next(event: string, predicate: (m: Message) => boolean = () => true, timeoutMs = 60_000): Promise<Message> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.messages.find((m) => m.event === event && predicate(m));
        if (found !== undefined) {
          clearTimeout(timer);
          this.listeners = this.listeners.filter((l) => l !== check);
          resolve(found);
        }
      };
      const timer = setTimeout(
        () => reject(new Error(`no "${event}" within ${timeoutMs} ms; got ${JSON.stringify(this.messages.slice(-3))}; stderr: ${this.stderr.slice(-2000)}`)),
        timeoutMs,
      );
      this.listeners.push(check);
      check();
    });
  }
}
