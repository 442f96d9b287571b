/**
 * One instance per identity and trust store (docs/security/key-trust.md, "One instance per
 * identity"): the default store caches what it read, so a second writer would lose the first one's
 * pins and heads. A second StreamApi of the same identity on the same store fails with
 * `TrustStoreBusy`, in this process or another; a dead holder's lock is taken over once stale; a
 * holder that loses its lock stops writing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../crypto/bytes.ts';
import { connectClient, pub, type Client } from '../../test/endpoint.ts';
import { setupTenant, startBridge, type Tenant, type TestBridge } from '../../test/harness.ts';
import { Endpoint } from '../endpoint.ts';
import { EndpointError } from '../errors.ts';
import { openTrustKv } from '../platform/trust-kv-node.ts';
import { StreamApi } from '../stream-api.ts';
import { PersistentTrustStore, trustNamespace } from './persistent-trust-store.ts';
import { MemoryTrustStore, type UserPin } from './trust.ts';

let t: TestBridge;
let tenant: Tenant;
const dirs: string[] = [];
const clients: Client[] = [];

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sealroom-hold-'));
  dirs.push(dir);
  return dir;
}

beforeAll(async () => {
  t = await startBridge();
  tenant = await setupTenant(t.bridge, ['alice', 'bob']);
});
afterAll(async () => {
  for (const c of clients) await c.connection.disconnect();
  await t.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function connectAlice(trustDir: string): Promise<Client> {
  const client = await connectClient(t.bridge.url, tenant.solutionId, tenant.users.alice!, { streamApi: { trustDir } });
  clients.push(client);
  return client;
}

const reasonOf = async (call: Promise<unknown>) => {
  try {
    await call;
    return 'ok';
  } catch (error) {
    return error instanceof EndpointError ? `${error.reason} ${error.code}` : String(error);
  }
};

const pin = (userId: string): UserPin => ({ contextId: 'ctx', userId, publicKey: `srpk1${userId}`, pinnedAt: 1, verified: false, former: [] });

describe('one StreamApi per identity and trust store', () => {
  it('shares one store among the connections of an identity in a process, and holds it against other processes until the last one is disconnected', async () => {
    const trustDir = folder();
    const namespace = trustNamespace(tenant.solutionId, tenant.users.alice!.publicKey);
    const first = await connectAlice(trustDir);
    const roomId = await first.streamApi.createStreamRoom(tenant.contextId, [pub(tenant.users.alice!)], [pub(tenant.users.alice!)], utf8('{}'), utf8('one'));
    const second = await connectAlice(trustDir);
    await second.streamApi.updateStreamRoom(roomId, [pub(tenant.users.alice!)], [pub(tenant.users.alice!)], utf8('{}'), utf8('two'), 1, false, false);
    expect(new TextDecoder().decode((await first.streamApi.getStreamRoom(roomId)).privateMeta)).toBe('two');

    expect(await holdInChild(trustDir, namespace)).toBe('busy');
    await first.connection.disconnect();
    expect(await holdInChild(trustDir, namespace)).toBe('busy'); // the second still uses it
    expect(new TextDecoder().decode((await second.streamApi.getStreamRoom(roomId)).privateMeta)).toBe('two');
    await second.connection.disconnect();
    expect(await holdInChild(trustDir, namespace)).toBe('held');
  });

  it('refuses a StreamApi with TrustStoreBusy while another process holds the store, and opens once it let go', async () => {
    const trustDir = folder();
    const namespace = trustNamespace(tenant.solutionId, tenant.users.alice!.publicKey);
    const holder = await holdInChild(trustDir, namespace, { stay: true });
    const connection = await Endpoint.connect(tenant.users.alice!.privateKey, tenant.solutionId, t.bridge.url);
    const eventApi = await Endpoint.createEventApi(connection);
    try {
      expect(await reasonOf(Endpoint.createStreamApi(connection, eventApi, { trustDir }))).toBe('TrustStoreBusy ERR_ENDPOINT_TRUST_STORE_BUSY');
      holder.kill('SIGTERM'); // a clean exit releases the lock (proper-lockfile's exit hook)
      await new Promise((resolve) => holder.once('exit', resolve));
      // The failed call can be made again.
      await Endpoint.createStreamApi(connection, eventApi, { trustDir });
    } finally {
      await connection.disconnect();
    }
  });

  it('lets identities share a folder, and leaves a given trustStore (or another folder) alone', async () => {
    const trustDir = folder();
    const alice = await connectAlice(trustDir);
    const bob = await connectClient(t.bridge.url, tenant.solutionId, tenant.users.bob!, { streamApi: { trustDir } });
    clients.push(bob);
    const elsewhere = await connectAlice(folder());
    const ownStore = await connectClient(t.bridge.url, tenant.solutionId, tenant.users.alice!, { streamApi: { trustStore: new MemoryTrustStore() } });
    clients.push(ownStore);
    for (const c of [alice, bob, elsewhere, ownStore]) expect(c.connection.state).toBe('connected');
  });

  it('fails with TrustStoreFailed when the store cannot be held (its folder is a file), and with ConnectionLost on a closed connection', async () => {
    const connection = await Endpoint.connect(tenant.users.alice!.privateKey, tenant.solutionId, t.bridge.url);
    const eventApi = await Endpoint.createEventApi(connection);
    const trustDir = folder();
    writeFileSync(join(trustDir, trustNamespace(tenant.solutionId, tenant.users.alice!.publicKey)), 'not a folder');
    try {
      expect(await reasonOf(Endpoint.createStreamApi(connection, eventApi, { trustDir }))).toBe('TrustStoreFailed ERR_ENDPOINT_TRUST_STORE_FAILED');
    } finally {
      await connection.disconnect();
    }
    expect(await reasonOf(Endpoint.createStreamApi(connection, eventApi, { trustDir: folder() }))).toMatch(/^ConnectionLost/);
  });

  it('makes a StreamApi only through createStreamApi unless it is given a store', async () => {
    const connection = await Endpoint.connect(tenant.users.bob!.privateKey, tenant.solutionId, t.bridge.url);
    const eventApi = await Endpoint.createEventApi(connection);
    try {
      expect(() => new StreamApi(connection, eventApi)).toThrow(/made by Endpoint.createStreamApi/);
      // The refusal did not claim the EventApi.
      await Endpoint.createStreamApi(connection, eventApi, { trustStore: new MemoryTrustStore() });
    } finally {
      await connection.disconnect();
    }
  });

  it('takes over the lock of a process that died holding it, once the lock is stale', async () => {
    const directory = folder();
    const namespace = trustNamespace(tenant.solutionId, tenant.users.alice!.publicKey);
    const holder = await holdInChild(directory, namespace, { stay: true });
    const connection = await Endpoint.connect(tenant.users.alice!.privateKey, tenant.solutionId, t.bridge.url);
    const eventApi = await Endpoint.createEventApi(connection);
    try {
      holder.kill('SIGKILL');
      await new Promise((resolve) => holder.once('exit', resolve));
      // Killed, it could not release: its lock stays until it is older than the stale time.
      expect(await reasonOf(Endpoint.createStreamApi(connection, eventApi, { trustDir: directory }))).toMatch(/^TrustStoreBusy/);
      const past = new Date(Date.now() - 11_000);
      utimesSync(join(directory, namespace, 'held.lock'), past, past);
      await Endpoint.createStreamApi(connection, eventApi, { trustDir: directory });
    } finally {
      await connection.disconnect();
    }
  });
});

describe('PersistentTrustStore hold', () => {
  it('stops writing once its lock is taken from it', async () => {
    const directory = folder();
    const store = new PersistentTrustStore(openTrustKv({ directory, namespace: 'n1' }));
    await store.open();
    await store.setPins([pin('bob')]);
    rmSync(join(directory, 'n1', 'held.lock'), { recursive: true });
    // The holder notices at its next refresh (every 2 s).
    let reason = '';
    for (let i = 0; i < 40 && !reason.startsWith('TrustStoreBusy'); i++) {
      reason = await reasonOf(store.setPins([pin(`carol${i}`)]));
      if (!reason.startsWith('TrustStoreBusy')) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(reason).toMatch(/^TrustStoreBusy/);
    expect(await new PersistentTrustStore(openTrustKv({ directory, namespace: 'n1' })).getPin('ctx', 'bob')).toEqual(pin('bob'));
    await store.close();
  }, 15_000);

  it('closed while it takes the hold (its connection went meanwhile): lets go of it, so another can take it', async () => {
    const directory = folder();
    const store = new PersistentTrustStore(openTrustKv({ directory, namespace: 'n1' }));
    const opening = reasonOf(store.open());
    await store.close();
    expect(await opening).toMatch(/^TrustStoreFailed/);
    const next = new PersistentTrustStore(openTrustKv({ directory, namespace: 'n1' }));
    await next.open();
    await next.close();
  });

  it('on close, finishes what was queued, refuses what comes after, and frees the store', async () => {
    const directory = folder();
    const store = new PersistentTrustStore(openTrustKv({ directory, namespace: 'n1' }));
    await store.open();
    const queued = store.setPins([pin('bob')]);
    await store.close();
    await queued;
    expect(await reasonOf(store.setPins([pin('carol')]))).toMatch(/^TrustStoreFailed/);
    const next = new PersistentTrustStore(openTrustKv({ directory, namespace: 'n1' }));
    await next.open();
    expect(await next.getPin('ctx', 'bob')).toEqual(pin('bob'));
    expect(await next.getPin('ctx', 'carol')).toBeUndefined();
    await next.close();
  });
});

/**
 * A child process that tries to hold `namespace` under `directory`: resolves to 'held' or 'busy' once
 * it knows and exits (releasing), or with `stay`, to the process once it holds.
 */
function holdInChild(directory: string, namespace: string): Promise<'held' | 'busy'>;
function holdInChild(directory: string, namespace: string, options: { stay: true }): Promise<ChildProcess>;
async function holdInChild(directory: string, namespace: string, options: { stay?: boolean } = {}): Promise<unknown> {
  const module = new URL('../platform/trust-kv-node.ts', import.meta.url).href;
  const code = `const { openTrustKv } = await import(${JSON.stringify(module)});
const kv = openTrustKv({ directory: ${JSON.stringify(directory)}, namespace: ${JSON.stringify(namespace)} });
const hold = await kv.hold(() => {}).catch((error) => { if (error.code !== 'ELOCKED') throw error; });
process.stdout.write(hold === undefined ? 'busy\\n' : 'held\\n');
if (${options.stay === true}) setInterval(() => {}, 1000);
else await hold?.release();`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const said = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (data: Buffer) => resolve(data.toString().trim()));
    child.once('exit', (code) => reject(new Error(`the holder exited (${code})`)));
  });
  if (options.stay === true) {
    if (said !== 'held') throw new Error(`the holder could not hold (${said})`);
    return child;
  }
  await new Promise((resolve) => child.once('exit', resolve));
  return said;
}
