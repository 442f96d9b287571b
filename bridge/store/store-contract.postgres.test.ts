/**
 * The store contract (store-contract-test.ts) on PostgreSQL: one real server for the file (test/postgres.ts),
 * a fresh database per test; `another()` opens a second store (its own pool) on the same database, as
 * a second Bridge would.
 */
import { afterAll, beforeAll } from 'vitest';
import { startPostgres, type TestPostgres } from '../../test/postgres.ts';
import { PostgresStore } from './postgres.ts';
import { describeRoomContract } from './store-contract-rooms-test.ts';
import { describeStoreContract, type ContractSetup } from './store-contract-test.ts';

let server: TestPostgres;
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server?.destroy();
});

const setup: ContractSetup = {
  name: 'postgres',
  async fresh() {
    const url = await server.createDatabase();
    return { store: await PostgresStore.open({ url }), another: () => PostgresStore.open({ url }) };
  },
};

describeStoreContract(setup);
describeRoomContract(setup);
