/**
 * A seeded generator of hostile inputs for the fuzz suites (test/fuzz/*.test.ts). Deterministic for a
 * seed, so a failure names its seed and reproduces with `FUZZ_SEED=<seed>`.
 */

/** mulberry32: small, fast, good enough to pick inputs (not for crypto). */
export class Gen {
  #state: number;

  constructor(readonly seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }

  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.int(0, 255);
    return out;
  }

  /** A string from a hostile alphabet: controls, quotes, percent signs, unicode, lone surrogates. */
  text(maxLength: number): string {
    const alphabet = [
      'a',
      'Z',
      '0',
      '_',
      '-',
      '%',
      '/',
      '\\',
      '"',
      "'",
      '{',
      '}',
      '[',
      ']',
      '$',
      '.',
      ' ',
      '\n',
      '\0',
      '\u00e9',
      '\ud83d\ude00',
      '\ud800',
      '\u202e',
      '=',
      '+',
      '&',
      '?',
      '#',
    ];
    let out = '';
    const length = this.int(0, maxLength);
    for (let i = 0; i < length; i++) out += this.pick(alphabet);
    return out;
  }

  /** Any JSON value, with nesting up to `depth`. */
  json(depth = 3): unknown {
    switch (this.int(0, depth <= 0 ? 4 : 7)) {
      case 0:
        return null;
      case 1:
        return this.chance(0.5);
      case 2:
        return this.pick([0, -1, 1.5, 1e308, -1e308, 2 ** 53, Number.MAX_SAFE_INTEGER + 2, 42]);
      case 3:
        return this.text(40);
      case 4:
        return this.pick(['', 'srpk1', 'sol_x', 'ctx_x', 'room_x', 'AAAA', '====', 'x'.repeat(5000)]);
      case 5:
        return Array.from({ length: this.int(0, 5) }, () => this.json(depth - 1));
      default: {
        const keys = [
          'record',
          'signature',
          'keys',
          'version',
          'force',
          'solutionId',
          'publicKey',
          'nonce',
          'timestamp',
          'bridgeUrl',
          'name',
          '__proto__',
          'constructor',
          this.text(8),
        ];
        const out: Record<string, unknown> = {};
        for (let i = this.int(0, 6); i > 0; i--) out[this.pick(keys)] = this.json(depth - 1);
        return out;
      }
    }
  }

  /** A deeply nested array or object, to test parsers' depth handling. */
  deep(levels: number): string {
    const open = this.chance(0.5) ? '[' : '{"a":';
    const close = open === '[' ? ']' : '}';
    return `${open.repeat(levels)}1${close.repeat(levels)}`;
  }
}

/** The seeds a suite runs: fixed ones, plus a random one printed so a failure can be replayed. */
export function fuzzSeeds(fixed: number[]): number[] {
  const fromEnv = process.env.FUZZ_SEED;
  if (fromEnv !== undefined) return [Number(fromEnv)];
  return [...fixed, Math.floor(Math.random() * 2 ** 31)];
}
