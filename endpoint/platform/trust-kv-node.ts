/**
 * Node: trust entries as files, `<directory>/<namespace>/<sha256(key)>.json`, mode 0600 in a 0700
 * folder. Each write goes to a temporary file in the same folder (flushed with fsync when durable),
 * then is renamed over the old file: rename is atomic on POSIX file systems, so a crash leaves one
 * version or the other. Selected by `#endpoint-trust-kv` in package.json.
 *
 * The hold is a lock folder beside the entries (`held.lock`, proper-lockfile): made with mkdir, which
 * one taker wins, and kept fresh by its holder every `HOLD_UPDATE_MS`. A lock not refreshed for
 * `HOLD_STALE_MS` (its process died without releasing it) is taken over by the next taker, so a crash
 * blocks the identity for at most that long (docs/security/key-trust.md, "One instance per identity").
 */
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs';
import { mkdir, open, readFile, rename, rm, unlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { OpenTrustKv, TrustKv } from './trust-kv.ts';

/** A hold whose lock was not refreshed for this long is a dead process's, and is taken over. */
export const HOLD_STALE_MS = 10_000;
/** How often a holder refreshes its lock (well inside the stale time, even on a busy event loop). */
const HOLD_UPDATE_MS = 2_000;
const HOLD_LOCK = 'held.lock';

/** `trustDir` when the app gives none: SEALROOM_TRUST_DIR, else ~/.sealroom/trust. */
export function defaultTrustDirectory(): string {
  const fromEnv = process.env.SEALROOM_TRUST_DIR;
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : join(homedir(), '.sealroom', 'trust');
}

export const openTrustKv: OpenTrustKv = ({ directory, namespace }) => {
  const folder = resolve(directory ?? defaultTrustDirectory(), namespace);
  let ready: Promise<unknown> | undefined;
  const ensureFolder = () => {
    ready ??= mkdir(folder, { recursive: true, mode: 0o700 }).catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    return ready;
  };
  const file = (key: string) => join(folder, `${createHash('sha256').update(key).digest('hex')}.json`);
  const kv: TrustKv = {
    id: folder,
    async read(key) {
      try {
        return await readFile(file(key), 'utf8');
      } catch (error) {
        if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
        throw error;
      }
    },
    async write(key, value, durable) {
      await ensureFolder();
      const target = file(key);
      const temp = `${target}.${randomBytes(8).toString('hex')}.tmp`;
      if (durable) await writeSynced(temp, value);
      else {
        // The callback writeFile (open, write, close on the thread pool) rather than a FileHandle's: a
        // room's trust is written on every create and on every read that moves its head, and the
        // FileHandle path cost ~15-40% more CPU per write here (docs/operations/room-creates.md).
        try {
          await writeFileAsync(temp, value, { encoding: 'utf8', flag: 'wx', mode: 0o600 });
        } catch (error) {
          await unlink(temp).catch(() => undefined);
          throw error;
        }
      }
      try {
        await rename(temp, target);
      } catch (error) {
        await rm(temp, { force: true }).catch(() => undefined);
        throw error;
      }
    },
    async remove(key) {
      await rm(file(key), { force: true });
    },
    async hold(onLost) {
      await ensureFolder();
      // Loaded on first use: graceful-fs, under proper-lockfile, patches fs.close when it loads.
      const { default: lockfile } = await import('proper-lockfile');
      const release = await lockfile.lock(folder, {
        realpath: false,
        lockfilePath: join(folder, HOLD_LOCK),
        stale: HOLD_STALE_MS,
        update: HOLD_UPDATE_MS,
        retries: 0,
        onCompromised: onLost,
      });
      return { release };
    },
  };
  return kv;
};

const writeFileAsync = promisify(writeFile);

/** Writes `value` to a new file `temp` and flushes it to disk (fsync) before closing it. */
async function writeSynced(temp: string, value: string): Promise<void> {
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(value, 'utf8');
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await handle.close();
}
