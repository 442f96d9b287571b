/**
 * How far V8 lets a Node process's old generation grow past what a full collection left before it
 * marks again (docs/operations/node-heap.md): `sealroom start --heap-growth`, and what that page
 * recommends for a Node application that moves byte streams.
 *
 * Why: a process that moves byte streams allocates tens of MB/s of short-lived buffers. On a small
 * heap V8 sets the next marking's limit at about twice the live size, and starts marking as soon as
 * the room before that limit is smaller than its young generation's capacity (about 32 MB under such
 * traffic): so it marks again right after each Mark-Compact, for as long as the heap stays small. A
 * sender of a 1 -> 4 stream ran 61-64 Mark-Compacts in three 128 MiB streams, 1-3 with the growth at
 * 300%. Live data is not retained any longer; garbage that reaches the old generation waits longer for
 * its collection, so the process peaks higher between collections.
 */
import { setFlagsFromString } from 'node:v8';

/**
 * `sealroom start`'s default: V8's own heuristic. The Bridge falls into the state above less often than
 * the ends (a few of every ten fresh benchmark Bridges, fewer with more rooms and connections), and
 * a higher growth raised its peak RSS with a slow subscriber from 22-34 to 65-67 MB over idle, past
 * that figure's 64 MB goal; docs/operations/node-heap.md has both sides.
 */
export const DEFAULT_HEAP_GROWTH_PERCENT = 0;

/** What docs/operations/node-heap.md recommends for a Node process that sends or receives byte streams. */
export const STREAMS_HEAP_GROWTH_PERCENT = 300;

/** The most a start accepts: V8's own largest factor. */
export const MAX_HEAP_GROWTH_PERCENT = 300;

/** Why a value is refused, or undefined for one `setHeapGrowth` takes. `given`: the value as the user wrote it. */
export function heapGrowthProblem(percent: number, given = String(percent)): string | undefined {
  if (!Number.isSafeInteger(percent) || percent < 0 || percent > MAX_HEAP_GROWTH_PERCENT) {
    return `expected a whole number of percent from 0 (V8's own heuristic) to ${MAX_HEAP_GROWTH_PERCENT}, got ${given}`;
  }
  return undefined;
}

/** A percent as a user wrote it (a flag, a variable): the number, or why it is refused. */
export function parseHeapGrowth(text: string): { percent: number } | { problem: string } {
  const percent = text.trim() === '' ? Number.NaN : Number(text);
  const problem = heapGrowthProblem(percent, JSON.stringify(text));
  return problem === undefined ? { percent } : { problem };
}

/**
 * Sets the growth for this process, from now on (V8 reads it at every full collection). 0 gives V8's
 * own heuristic back. Throws a RangeError for a value `heapGrowthProblem` refuses.
 */
export function setHeapGrowth(percent: number): void {
  const problem = heapGrowthProblem(percent);
  if (problem !== undefined) throw new RangeError(`heap growth: ${problem}`);
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}
