/**
 * `sealroom check` and `sealroom backup`, run as operators run them: child processes on real database
 * files, including a backup taken while a Bridge writes to the database.
 */
import { appendFileSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../test/cli.ts';
import { createBridge, type Bridge } from '../bridge.ts';
import { DATABASE_FILE } from '../store/open.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sealroom-cli-db-'));
  dirs.push(dir);
  return dir;
}

/** Solutions written straight to the store before the tests, so that the database spans many pages. */
const PREFILLED = 3000;

let dataDir: string;
let bridge: Bridge;
let apiKey: string;
beforeAll(async () => {
  dataDir = tempDir();
  bridge = await createBridge({ dataDir, port: 0, logLevel: 'silent' });
  apiKey = bridge.initialApiKey!;
  for (let i = 0; i < PREFILLED; i++) {
    await bridge.store.insertSolution({ id: `sol_prefill${String(i).padStart(12, '0')}`, name: `prefilled ${i} ${'p'.repeat(100)}`, createdAt: i });
  }
});
afterAll(async () => {
  await bridge.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function solutionsIn(file: string): number {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM solutions').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('sealroom check', () => {
  it('passes a database in use by a running Bridge: exit code 0', async () => {
    const result = await runCli(['check', '--data-dir', dataDir]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(/^ok: .*sealroom\.db passed integrity_check \(schema version \d+, \d+ pages of 4096 bytes\)/);
  });

  it('fails a damaged database with the coded error: exit code 1', async () => {
    const copy = tempDir();
    const backup = await runCli(['backup', join(copy, DATABASE_FILE), '--data-dir', dataDir]);
    expect(backup.code).toBe(0);
    appendFileSync(join(copy, DATABASE_FILE), Buffer.alloc(1000, 0xee));
    const result = await runCli(['check', '--data-dir', copy]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: ERR_STORE_CORRUPT: the database .* is damaged: its size .* is not a whole number of 4096-byte pages/);
    expect(readdirSync(copy)).toEqual([DATABASE_FILE]);
  });

  it('fails a missing database, and says so when a -wal shows there was one', async () => {
    const empty = tempDir();
    const none = await runCli(['check', '--data-dir', empty]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^error: ERR_STORE_DATABASE_MISSING: no database at /);
    writeFileSync(join(empty, `${DATABASE_FILE}-wal`), 'x');
    const lost = await runCli(['check', '--data-dir', empty]);
    expect(lost.code).toBe(1);
    expect(lost.stderr).toMatch(/shows signs of one \(sealroom\.db-wal\)/);
  });
});

describe('sealroom backup', () => {
  it('copies a database while the Bridge writes to it; the copy checks, opens and restores', async () => {
    const target = join(tempDir(), 'backup.db');
    let written = 0;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        await bridge.manage.createSolution(`during backup ${written}`);
        written++;
      }
    })();
    while (written < 20) await new Promise((resolve) => setTimeout(resolve, 5));
    const before = PREFILLED + written;
    const result = await runCli(['backup', target, '--data-dir', dataDir]);
    const after = PREFILLED + written;
    writing = false;
    await writer;

    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^backed up .*sealroom\.db to .*backup\.db \(schema version \d+, \d+ pages of 4096 bytes\); the copy passed integrity_check/);
    expect(after).toBeGreaterThan(before); // the Bridge really wrote while the backup ran
    // One self-contained file: no -wal beside it, rollback journal mode.
    expect(readdirSync(join(target, '..'))).toEqual(['backup.db']);
    const copy = new Database(target, { readonly: true, fileMustExist: true });
    expect(copy.pragma('journal_mode', { simple: true })).toBe('delete');
    copy.close();
    // A snapshot: every write acknowledged before the backup began, none after it ended.
    const count = solutionsIn(target);
    expect(count).toBeGreaterThanOrEqual(before);
    expect(count).toBeLessThanOrEqual(after);

    const checked = await runCli(['check', target]);
    expect(checked.code).toBe(0);

    const restored = tempDir();
    cpSync(target, join(restored, DATABASE_FILE));
    const second = await createBridge({ dataDir: restored, port: 0, logLevel: 'silent', apiKey });
    expect(second.initialApiKey).toBeUndefined();
    expect(await second.manage.listSolutions()).toHaveLength(count);
    await second.close();
  });

  it('never overwrites: an existing target is refused and left as it was', async () => {
    const target = join(tempDir(), 'existing.db');
    writeFileSync(target, 'keep me');
    const result = await runCli(['backup', target, '--data-dir', dataDir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: ERR_STORE_BACKUP_FAILED: .*existing\.db exists already/);
    expect(readFileSync(target, 'utf8')).toBe('keep me');
  });

  it('refuses to copy a damaged database and writes nothing', async () => {
    const damaged = tempDir();
    expect((await runCli(['backup', join(damaged, DATABASE_FILE), '--data-dir', dataDir])).code).toBe(0);
    appendFileSync(join(damaged, DATABASE_FILE), Buffer.alloc(4096, 0xee));
    const out = tempDir();
    const result = await runCli(['backup', join(out, 'copy.db'), '--data-dir', damaged]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: ERR_STORE_CORRUPT: /);
    expect(existsSync(join(out, 'copy.db'))).toBe(false);
    expect(readdirSync(out)).toEqual([]);
  });
});
