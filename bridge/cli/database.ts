/**
 * The operator's database commands: `sealroom check` and `sealroom backup`. Both work on the files
 * directly (not through the management API), and both are safe while a Bridge runs on the data folder.
 */
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import type { DatabaseSummary } from '../store/open.ts';

// The store is loaded by the commands that use it (better-sqlite3 is an optional peer of the package,
// docs/package.md), so the rest of the command line works without it.
const store = async () => ({ ...(await import('../store/open.ts')), ...(await import('../store/backup.ts')) });

interface Io {
  out: (line: string) => void;
}

function dataDirOption(): Option {
  return new Option('--data-dir <dir>', 'database folder').env('SEALROOM_DATA_DIR').default('data');
}

function describe(summary: DatabaseSummary): string {
  return `schema version ${summary.schemaVersion}, ${summary.pages} pages of ${summary.pageSize} bytes`;
}

export function addDatabaseCommands(program: Command, io: Io): void {
  program
    .command('check')
    .argument('[file]', "a database file, such as a backup (default: the data folder's database)")
    .description("check a database: its files, SQLite's integrity_check and the schema; exits non-zero on a problem")
    .addOption(dataDirOption())
    .action(async (file: string | undefined, opts: { dataDir: string }) => {
      const { checkDatabase, databaseFile } = await store();
      const summary = checkDatabase(file ?? databaseFile({ dataDir: opts.dataDir }), { full: true });
      io.out(`ok: ${summary.file} passed integrity_check (${describe(summary)})`);
    });

  program
    .command('backup')
    .argument('<file>', 'where to write the backup (must not exist)')
    .description('copy the database to one self-contained, checked file; safe while the Bridge runs')
    .addOption(dataDirOption())
    .action(async (file: string, opts: { dataDir: string }) => {
      const { backupDatabase, databaseFile } = await store();
      const source = databaseFile({ dataDir: opts.dataDir });
      const summary = await backupDatabase(source, resolve(file));
      io.out(`backed up ${source} to ${summary.file} (${describe(summary)}); the copy passed integrity_check`);
    });
}
