/**
 * How late this process's real time runs while no byte stream moves: the base the bulk governor's
 * targets sit on (bulk-governor.ts; docs/operations/realtime-priorities.md, "The bulk governor").
 *
 * LEDBAT measures the delay a transfer adds against the path's base delay, not against zero. Here
 * the base is what the event loop and the received real-time frames show without byte streams: on a
 * core that real time already keeps busy (or shares with other processes), the loop runs some
 * milliseconds late and some frames arrive late with no file in sight, and a governor that halved
 * at a fixed lateness would hold every stream at its least rate there, whatever the streams cost.
 *
 * Quiet time is cut into epochs of `EPOCH_WINDOWS` windows. Each epoch gives two figures: the
 * `LOOP_QUANTILE` of its windows' worst lateness (each window's worst is what the governor
 * compares), and the `FRAME_QUANTILE` of the excess transit of the frames received in it
 * (data-track-receiver.ts; an epoch with fewer than `MIN_EPOCH_FRAMES` passes its frames on to the
 * next). Each base is the median of the last `EPOCHS` figures: a stall while a room is joined, or
 * any other passing burst, does not raise it, nor does an epoch that says too little (the first
 * frame from each sender arrives with no excess by definition: it sets its sender's quickest).
 * A base is 0 until `MIN_EPOCHS` figures were seen, and at most `MAX_BASE_MS`: real time that is
 * already later than that gets no more lateness from byte streams.
 */

/** Quiet windows in an epoch. */
export const EPOCH_WINDOWS = 10;
/** Epoch figures kept for each base. */
export const EPOCHS = 10;
/** Figures needed before there is a base. */
export const MIN_EPOCHS = 3;
/** The share of an epoch's windows whose worst lateness its loop figure covers. */
export const LOOP_QUANTILE = 0.9;
/** The share of an epoch's received frames whose excess transit its frame figure covers: a p99. */
export const FRAME_QUANTILE = 0.99;
/** Frames an epoch needs for a frame figure. */
export const MIN_EPOCH_FRAMES = 100;
/** The most either base can be. Milliseconds. */
export const MAX_BASE_MS = 50;

export class QuietBaseline {
  readonly #windows = new Float64Array(EPOCH_WINDOWS);
  #inEpoch = 0;
  /** This epoch's frames by their excess in whole milliseconds, the last bucket holding everything at or past it. */
  readonly #frames = new Uint32Array(MAX_BASE_MS + 1);
  #frameCount = 0;
  readonly #loopFigures: number[] = [];
  readonly #frameFigures: number[] = [];
  /** The bases now, in ms. */
  loopMs = 0;
  frameMs = 0;

  /** A quiet window ended with `worstMs` as its event loop's worst lateness. */
  window(worstMs: number): void {
    this.#windows[this.#inEpoch++] = worstMs;
    if (this.#inEpoch < EPOCH_WINDOWS) return;
    this.#inEpoch = 0;
    this.loopMs = figure(this.#loopFigures, this.#windows.slice().sort()[Math.floor(LOOP_QUANTILE * (EPOCH_WINDOWS - 1))]!);
    if (this.#frameCount < MIN_EPOCH_FRAMES) return;
    let below = 0;
    let bucket = 0;
    while (bucket < MAX_BASE_MS && (below += this.#frames[bucket]!) < FRAME_QUANTILE * this.#frameCount) bucket++;
    this.frameMs = figure(this.#frameFigures, bucket);
    this.#frames.fill(0);
    this.#frameCount = 0;
  }

  /** A real-time frame arrived `excessMs` after its sender's quickest lately, while quiet. */
  frame(excessMs: number): void {
    this.#frames[Math.min(MAX_BASE_MS, Math.max(0, Math.ceil(excessMs)))]!++;
    this.#frameCount++;
  }
}

/** Keeps an epoch's figure among the last `EPOCHS` and answers the base they give. */
function figure(figures: number[], value: number): number {
  figures.push(value);
  if (figures.length > EPOCHS) figures.shift();
  if (figures.length < MIN_EPOCHS) return 0;
  return Math.min(MAX_BASE_MS, figures.slice().sort((a, b) => a - b)[(figures.length - 1) >> 1]!);
}
