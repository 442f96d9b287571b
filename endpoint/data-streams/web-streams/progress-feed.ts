/**
 * The progress half of a transfer (`send` over the relay, `RemotePeer.send` over a direct channel):
 * the sender reports each step, a pull-based `ReadableStream` source gives the newest step not given
 * yet (steps in between are skipped, so a reader that never reads holds one), closes after the step
 * marked `done`, and errors once the transfer failed.
 */
import type { TransferProgress } from './types.ts';

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

/**
 * A sending transfer's steps into `progress`: `started` reports the first, `sent(current)` each
 * confirmed byte count, and `finished` the `done` step with the total the stream really had. Shared by
 * both direct-peer senders (endpoint/peers), whose steps come from the stream's own progress callback.
 */
export function transferSteps(progress: ProgressFeed<TransferProgress>, first: TransferProgress) {
  let step = first;
  return {
    started: () => progress.report(step),
    sent: (current: number) => {
      step = { ...step, current };
      progress.report(step);
    },
    finished: () => progress.report({ ...step, total: step.current, done: true }),
  };
}
