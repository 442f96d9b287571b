/**
 * `sealroom start --media-address` (bridge/media/this-machine.ts): where the media unit listens, as
 * the quick start tells it. Nothing here sends media: the unit binds a port only for a transport.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startBridgeProcess } from '../../test/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'sealroom-cli-media-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('sealroom start --media-address', () => {
  it("this-machine: one of this machine's own addresses, named in the quick start", async () => {
    const bridge = await startBridgeProcess(join(dir, 'a'), ['--media-address', 'this-machine']);
    try {
      const address = /Calls: the media unit listens on (\S+) and takes media from this machine only/.exec(bridge.startText)?.[1];
      const own = Object.values(networkInterfaces())
        .flatMap((list) => list ?? [])
        .filter((i) => i.family === 'IPv4')
        .map((i) => i.address);
      expect(own).toContain(address);
    } finally {
      bridge.child.kill('SIGTERM');
      await bridge.exited;
    }
  });

  it('without the flag the unit stays on loopback and the quick start says nothing about calls', async () => {
    const bridge = await startBridgeProcess(join(dir, 'b'));
    try {
      expect(bridge.startText).not.toContain('Calls:');
    } finally {
      bridge.child.kill('SIGTERM');
      await bridge.exited;
    }
  });

  it('refuses an address that is not IPv4, with a clear message', async () => {
    const result = await runCli(['start', '--data-dir', join(dir, 'c'), '--port', '0', '--media-address', 'media.example']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('--media-address: expected an IPv4 address or this-machine, got "media.example"');
  });
});
