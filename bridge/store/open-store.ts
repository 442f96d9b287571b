/**
 * The Bridge's store from its configuration: SQLite in the data folder by default, PostgreSQL when
 * `store` is a postgres:// URL (docs/operations/postgres.md). The PostgreSQL store is imported only
 * then, so `pg` stays an optional peer of the package (docs/package.md).
 */
import type { Logger } from 'pino';
import type { BridgeConfig } from '../config.ts';
import { SqliteStore } from './sqlite.ts';
import type { Store } from './types.ts';

/** A store with where its data is, for the start-up log line (a file, or the URL without password). */
export type OpenedStore = Store & { readonly file: string };

export async function openStore(config: BridgeConfig, log: Logger): Promise<OpenedStore> {
  if (config.store !== undefined) {
    const { PostgresStore } = await import('./postgres.ts');
    return PostgresStore.open({ url: config.store, log: log.child({ component: 'store' }) });
  }
  return new SqliteStore({
    ...(config.databaseFile !== undefined ? { file: config.databaseFile } : { dataDir: config.dataDir! }),
    forceNewDatabase: config.forceNewDatabase,
    log,
  });
}
