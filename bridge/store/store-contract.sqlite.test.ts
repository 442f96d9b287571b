/** The store contract (store-contract-test.ts) on SQLite: a database file in a temporary folder per test. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { SqliteStore } from './sqlite.ts';
import { describeRoomContract } from './store-contract-rooms-test.ts';
import { describeStoreContract, type ContractSetup } from './store-contract-test.ts';

const root = mkdtempSync(join(tmpdir(), 'sealroom-contract-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let databases = 0;

const setup: ContractSetup = {
  name: 'sqlite',
  async fresh() {
    const file = join(root, `db-${++databases}.db`);
    return { store: new SqliteStore({ file }), another: async () => new SqliteStore({ file }) };
  },
};

describeStoreContract(setup);
describeRoomContract(setup);
