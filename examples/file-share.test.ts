/** examples/file-share.ts, run as users run it: a receiver process and a sender process. */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBridge, type TestBridge } from '../test/harness.ts';

let t: TestBridge;
let work: string;

beforeAll(async () => {
  t = await startBridge();
  work = mkdtempSync(join(tmpdir(), 'sealroom-file-share-'));
});
afterAll(async () => {
  await t.close();
  rmSync(work, { recursive: true, force: true });
});

/** Runs the example with `args`; resolves with its output once it exits 0. */
function run(args: string[], onLine?: (line: string) => void): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/file-share.ts', ...args], {
    env: { ...process.env, SEALROOM_URL: t.bridge.url, SEALROOM_API_KEY: t.bridge.initialApiKey! },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line !== '') onLine?.(line);
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  return new Promise((resolve, reject) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`file-share ${args[0]} exited with ${code}: ${out}\n${err}`));
    }),
  );
}

describe('examples/file-share.ts', () => {
  it('sends a file from one process to another, with a progress bar on both sides', async () => {
    const file = join(work, 'holiday photo.jpg');
    const bytes = randomBytes(6 * 1024 * 1024);
    writeFileSync(file, bytes);
    const out = join(work, 'downloads');
    mkdirSync(out);
    const state = join(work, 'state.json');
    let waiting!: () => void;
    const ready = new Promise<void>((resolve) => (waiting = resolve));
    const receiving = run(['receive', '--out', out, '--state', state], (line) => line.startsWith('waiting for a file') && waiting());
    await ready;
    const sent = await run(['send', file, '--state', state]);
    const received = await receiving;

    const digest = createHash('sha256').update(bytes).digest('hex');
    expect(sent).toMatch(/sent \[#{30}\] 100%/);
    expect(sent).toContain(`sent holiday photo.jpg as stream`);
    expect(sent).toContain(digest);
    expect(received).toMatch(/receiving "holiday photo.jpg" \(6291456 bytes, image\/jpeg\) from sender/);
    expect(received).toMatch(/received \[#{30}\] 100%/);
    expect(received).toContain(`saved ${join(out, 'holiday photo.jpg')} (sha256 ${digest})`);
    expect(existsSync(join(out, 'holiday photo.jpg'))).toBe(true);
    expect(
      createHash('sha256')
        .update(readFileSync(join(out, 'holiday photo.jpg')))
        .digest('hex'),
    ).toBe(digest);
  });
});
