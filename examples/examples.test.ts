/** The examples are programs users run: they are run here too, as separate processes. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBridge, type TestBridge } from '../test/harness.ts';

const run = promisify(execFile);
let t: TestBridge;

beforeAll(async () => {
  t = await startBridge();
});
afterAll(() => t.close());

describe('examples/quickstart.ts', () => {
  it('runs against a running Bridge with an operator key', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/quickstart.ts'], {
      env: { ...process.env, SEALROOM_URL: t.bridge.url, SEALROOM_API_KEY: t.bridge.initialApiKey! },
      timeout: 60_000,
    });
    expect(stdout).toMatch(/4\. bob read and verified it: version 1, epoch 1, private meta "agenda: ship v1"/);
    expect(stdout).toMatch(/6\. bob got streamRoomUpdated: version 2, epoch 2/);
    expect(stdout).toMatch(/7\. done/);
    expect((await t.bridge.manage.listSolutions()).map((s) => s.name)).toContain('quickstart');
  });
});

describe('examples/broadcast.ts', () => {
  it('broadcasts to the room with its own Bridge and reports signed receipts', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/broadcast.ts', '--mb', '8'], {
      timeout: 60_000,
    });
    const sent = /2\. alice sent 8 MB \(sha256 ([0-9a-f]{16})\)/.exec(stdout);
    expect(sent).not.toBeNull();
    expect(stdout).toContain('delivered (signed receipts): bob, carol');
    expect(stdout).toContain('failed: dave (not_connected)');
    for (const who of ['bob', 'carol']) expect(stdout).toContain(`${who} got "talk.webm" from alice: sha256 ${sent![1]}`);
    expect(stdout).toMatch(/4\. send\(\): \d+ progress steps, 3145728 of 3145728 bytes/);
    expect(stdout).toMatch(/5\. done/);
  });
});

describe('examples/direct-transfer.ts', () => {
  it('sends the same file direct to a member who accepts and over the relay to one who does not', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/direct-transfer.ts', '--mb', '4'], {
      timeout: 60_000,
    });
    const sent = /alice sends 4 MB \(sha256 ([0-9a-f]{16})\)/.exec(stdout);
    expect(sent).not.toBeNull();
    expect(stdout).toMatch(/to bob: path direct, [\d.]+ s; delivered \(signed receipt\): bob; failed: -; the Bridge relayed 0 stream bytes/);
    expect(stdout).toMatch(/to carol: path relay, [\d.]+ s; delivered \(signed receipt\): carol; failed: -; the Bridge relayed \d{7,} stream bytes/);
    for (const who of ['bob', 'carol']) expect(stdout).toContain(`${who} got "photos.zip" from alice: 4194304 bytes, sha256 ${sent![1]}`);
    expect(stdout).toMatch(/3\. alice's peer to bob: connected/);
    expect(stdout).toMatch(/4\. done/);
  });
});
