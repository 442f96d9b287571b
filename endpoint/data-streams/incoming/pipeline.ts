/**
 * Steps run one at a time, in the order they were queued (each may be async). A throwing step is
 * logged and the next one runs.
 */
import type { Logger } from '../../logger.ts';

export type Step = () => void | Promise<void>;

export class Pipeline {
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

  get busy(): boolean {
    return this.running;
  }

  enqueue(step: Step): void {
    this.steps.push(step);
    if (!this.running) void this.run();
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.head < this.steps.length) {
      const step = this.steps[this.head]!;
      this.steps[this.head++] = undefined as unknown as Step;
      if (this.head >= 1024 && this.head * 2 >= this.steps.length) {
        this.steps = this.steps.slice(this.head);
        this.head = 0;
      }
      try {
        await step();
      } catch (error) {
        this.log.error({ error: String(error) }, 'a byte-stream delivery step failed');
      }
    }
    this.steps = [];
    this.head = 0;
    this.running = false;
    this.idle();
  }
}
