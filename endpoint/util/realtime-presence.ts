/**
 * Whether this process carries real-time tracks now, and so which backend a byte stream that starts
 * now uses (docs/operations/realtime-priorities.md, "The bulk thread").
 *
 * A process where any connection has remote data tracks in a joined room seals, opens and hashes
 * its byte streams' chunks on the bulk thread (Node: crypto/backend/bulk-thread.ts, a worker at the
 * lowest OS priority), so the event loops that handle those tracks get the core first. Elsewhere
 * (a process that only moves files) the chunk work stays on the event loop, where it costs less:
 * handing each chunk to the thread and back is CPU that only pays off when real time waits.
 * The choice is made per stream when it starts and holds for its life.
 */
import { type CryptoBackend, threadedBackend } from '../../crypto/backend/index.ts';

/** What a connection tells: whether it carries real-time tracks now. */
export interface RealtimeHolder {
  readonly carriesRealtime: boolean;
}

/** Weakly held: a connection that is gone drops out by itself. */
const holders = new Set<WeakRef<RealtimeHolder>>();
/** Past this many, registering sweeps out the references of collected holders first. */
let sweepAt = 64;

/** A connection's state joins the process-wide answer (once, when it is made). */
export function registerRealtimeHolder(holder: RealtimeHolder): void {
  if (holders.size >= sweepAt) {
    for (const ref of holders) if (ref.deref() === undefined) holders.delete(ref);
    sweepAt = Math.max(64, holders.size * 2);
  }
  holders.add(new WeakRef(holder));
}

const changeListeners = new Set<() => void>();
/** What `realtimeInProcess()` answered when a holder last said it may have turned. */
let lastAnswer = false;

/** Calls `listener` each time `realtimeInProcess()` turns (as its holders report it). */
export function onRealtimeChange(listener: () => void): void {
  changeListeners.add(listener);
}

/** A holder's `carriesRealtime` turned: the listeners hear of it if the process's answer turned too. */
export function realtimeMayHaveChanged(): void {
  const now = realtimeInProcess();
  if (now === lastAnswer) return;
  lastAnswer = now;
  for (const listener of changeListeners) listener();
}

/** True while any connection of this process carries real-time tracks. */
export function realtimeInProcess(): boolean {
  for (const ref of holders) {
    const holder = ref.deref();
    if (holder === undefined) holders.delete(ref);
    else if (holder.carriesRealtime) return true;
  }
  return false;
}

/**
 * When byte streams use the bulk thread: `auto` while the process carries real-time tracks (the
 * default), `always`, or `never` (`Endpoint.setup({ bulkThread })`).
 */
export type BulkThreadMode = 'auto' | 'always' | 'never';

export const BULK_THREAD_MODES: readonly BulkThreadMode[] = ['auto', 'always', 'never'];

let mode: BulkThreadMode = 'auto';

/** Sets the process-wide mode (streams that already started keep their choice). */
export function setBulkThreadMode(next: BulkThreadMode): void {
  mode = next;
}

/**
 * The backend for a byte stream starting now: the bulk thread (where there is one: Node) as the mode
 * says, else undefined (the default backend).
 */
export function streamBackend(): CryptoBackend | undefined {
  if (mode === 'never' || (mode === 'auto' && !realtimeInProcess())) return undefined;
  return threadedBackend();
}
