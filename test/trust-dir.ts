/**
 * vitest globalSetup: the Endpoint's default trust store (pinned keys, trusted heads) persists under
 * SEALROOM_TRUST_DIR; tests get a fresh temporary folder per run instead of the user's home, removed
 * at the end. Test workers and the processes they start inherit the variable.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'sealroom-trust-'));
  process.env.SEALROOM_TRUST_DIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
