/**
 * Steps run one at a time, in the order they were queued (each may be async). A throwing step is
 * logged and the next one runs.
 *
 * Steps do not run when they are queued: the pipeline is a lane of the process-wide slice scheduler
 * (util/cooperative.ts), which runs lanes' steps in round robin in bounded slices and yields to the
 * event loop between slices (docs/operations/realtime-priorities.md, "Receive side").
 */
import type { Logger } from '../../logger.ts';
import { type Lane, wakeLane } from '../../util/cooperative.ts';

export type Step = () => void | Promise<void>;

export class Pipeline implements Lane {
  private steps: Step[] = [];
  private head = 0;
  private running = false;

  constructor(
    private readonly log: Logger,
    /** Called whenever the queue runs dry. */
    private readonly idle: () => void = () => undefined,
  ) {}

  /** Steps queued and not yet started. */
  get pending(): number {
    return this.steps.length - this.head;
  }

  /** A step runs or waits to. */
  get busy(): boolean {
    return this.running || this.pending > 0;
  }

  get hasWork(): boolean {
    return !this.running && this.pending > 0;
  }

  enqueue(step: Step): void {
    this.steps.push(step);
    wakeLane(this);
  }

  runNext(): void | Promise<void> {
    const step = this.take();
    if (step === undefined) return;
    this.running = true;
    let result: void | Promise<void>;
    try {
      result = step();
    } catch (error) {
      this.failed(error);
      return this.finish();
    }
    if (!(result instanceof Promise)) return this.finish();
    return result.then(
      () => this.finish(),
      (error: unknown) => {
        this.failed(error);
        this.finish();
      },
    );
  }

  private take(): Step | undefined {
    if (this.head >= this.steps.length) return undefined;
    const step = this.steps[this.head]!;
    this.steps[this.head++] = undefined as unknown as Step;
    if (this.head >= 1024 && this.head * 2 >= this.steps.length) {
      this.steps = this.steps.slice(this.head);
      this.head = 0;
    }
    return step;
  }

  private failed(error: unknown): void {
    this.log.error({ error: String(error) }, 'a byte-stream delivery step failed');
  }

  private finish(): void {
    this.running = false;
    if (this.pending > 0) return;
    this.steps = [];
    this.head = 0;
    this.idle();
  }
}
