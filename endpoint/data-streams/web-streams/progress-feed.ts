/**
 * The progress half of a transfer (`send` over the relay, `RemotePeer.send` over a direct channel):
 * the sender reports each step, a pull-based `ReadableStream` source gives the newest step not given
 * yet (steps in between are skipped, so a reader that never reads holds one), closes after the step
 * marked `done`, and errors once the transfer failed.
 */
import type { SendResult, TransferProgress } from './types.ts';

export interface ProgressFeed<T extends { done: boolean }> {
  /** A new step: wakes a pull that waits for one. */
  report(step: T): void;
  /** The transfer failed: a pull errors with `error` once the steps already reported are given. */
  fail(error: unknown): void;
  readonly source: UnderlyingDefaultSource<T>;
}

export function progressFeed<T extends { done: boolean }>(): ProgressFeed<T> {
  let latest: T | undefined;
  let given: T | undefined;
  let failure: unknown;
  let failed = false;
  let wake: (() => void) | undefined;
  const changed = () => {
    wake?.();
    wake = undefined;
  };
  return {
    report(step) {
      latest = step;
      changed();
    },
    fail(error) {
      failure = error;
      failed = true;
      changed();
    },
    source: {
      async pull(controller) {
        for (;;) {
          if (latest !== undefined && latest !== given) {
            given = latest;
            controller.enqueue(latest);
            if (latest.done) controller.close();
            return;
          }
          if (failed) return controller.error(failure);
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
        }
      },
    },
  };
}

/** A direct-peer send, once its source is open: the first step, and how to start the stream. */
export interface PreparedTransfer {
  first: TransferProgress;
  source: { cancel(): void };
  /** Starts the stream; `onProgress` gets each confirmed byte count. */
  start(onProgress: (current: number) => void): Promise<{ ended: Promise<unknown>; result: Promise<SendResult> }>;
}

/**
 * Runs a sending transfer with its progress feed, for both direct-peer senders (endpoint/peers): the
 * first step once the stream started, each confirmed byte count, a `done` step with the total the
 * stream really had, then the result; on failure the source is cancelled and the feed errors with
 * `mapError(error)`.
 */
export function trackedTransfer(
  prepare: () => Promise<PreparedTransfer>,
  mapError: (error: unknown) => unknown = (error) => error,
): { source: UnderlyingDefaultSource<TransferProgress>; result: Promise<SendResult> } {
  const progress = progressFeed<TransferProgress>();
  const run = async (): Promise<SendResult> => {
    const { first, source, start } = await prepare();
    let step = first;
    try {
      const sending = await start((current) => {
        step = { ...step, current };
        progress.report(step);
      });
      progress.report(step);
      await sending.ended;
      progress.report({ ...step, total: step.current, done: true });
      return await sending.result;
    } catch (error) {
      source.cancel();
      throw mapError(error);
    }
  };
  const result = run();
  result.catch((error: unknown) => progress.fail(error));
  return { source: progress.source, result };
}
