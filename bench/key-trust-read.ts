/**
 * What the key pins (docs/security/key-trust.md) cost a room read: the time to read and verify a room,
 * measured the same way on any checkout, so that two checkouts (before and after the pins) can be
 * compared. One process: a Bridge on port 0 and one reader; a room of `MEMBERS` members with
 * `VERSIONS` versions.
 *
 * - `cold`: a reader that has never seen the room or its members (a fresh in-memory store): the whole
 *   chain verified, the directory fetched, every member pinned, the key unwrapped, the meta opened.
 * - `coldPersistent` (only where the default store exists): the same with the default store over files.
 * - `nextVersion`: a reader that trusts the head and every member (in memory) reads one new version.
 * - `nextVersionPersistent` (where the default store exists): the same over files; the new head is
 *   written (atomically, without fsync).
 * - `unchanged`: a reader that trusts the head reads it again (no new record).
 * - `coldNoChecks`, `nextVersionNoChecks` (where the pins exist): `cold` and `nextVersion` with the key
 *   checks switched off, interleaved in the same process: the checks' own share, free of the noise
 *   between two runs.
 *
 * - `checksOnlyUs` and `chainVerifyUs` (where the pins exist): the pin checks of every key of every
 *   version of the room with the pins in place, and the signature and chain verification of the same
 *   versions, in microseconds of CPU, interleaved: the checks' share without any I/O.
 *
 * Times are medians of wall time; the `Cpu` fields are medians of this process's CPU time (user +
 * system), which another process on the same cores disturbs less.
 *
 *   npx tsx bench/key-trust-read.ts            # prints one JSON line of medians, in milliseconds
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBridge } from '../bridge/index.ts';
import { verifyGenesis, verifySuccessor, type VerifiedVersion } from '../protocol/room-chain.ts';
import { roomResponseSchema } from '../protocol/api.ts';
import { connectionInternals } from '../endpoint/internal.ts';
import { generateKeyPair } from '../crypto/identity.ts';
import { utf8 } from '../crypto/bytes.ts';
import { Endpoint, MemoryTrustStore, type TrustStore } from '../endpoint/index.ts';
import { KeyRing } from '../endpoint/rooms/keyring.ts';
import { RoomApi } from '../endpoint/rooms/room-api.ts';

const MEMBERS = Number(process.env.MEMBERS ?? 20);
const VERSIONS = Number(process.env.VERSIONS ?? 10);
const ROUNDS = Number(process.env.ROUNDS ?? 40);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sealroom-kt-bench-'));
  const trustDir = mkdtempSync(join(tmpdir(), 'sealroom-kt-trust-'));
  const bridge = await createBridge({ dataDir, port: 0, logLevel: 'silent' });
  try {
    const { solutionId } = await bridge.manage.createSolution('bench');
    const { contextId } = await bridge.manage.createContext(solutionId, 'bench');
    const users: Array<{ userId: string; privateKey: string; publicKey: string }> = [];
    for (let i = 0; i < MEMBERS; i++) {
      const pair = await generateKeyPair();
      users.push({ userId: `u${i}`, ...pair });
      await bridge.manage.addContextUser(contextId, `u${i}`, pair.publicKey);
    }
    const members = users.map((u) => ({ userId: u.userId, pubKey: u.publicKey }));
    const open = async (i: number) => Endpoint.connect(users[i]!.privateKey, solutionId, bridge.url, { reconnect: false });
    const writerConnection = await open(0);
    const writer = await Endpoint.createStreamApi(writerConnection, await Endpoint.createEventApi(writerConnection), { trustStore: new MemoryTrustStore() });
    const reader = await open(1);
    const roomId = await writer.createStreamRoom(contextId, members, [members[0]!], utf8('{}'), utf8('meta v1'));
    let version = 1;
    const update = async () => {
      await writer.updateStreamRoom(roomId, members, [members[0]!], utf8('{}'), utf8(`meta v${version + 1}`), version, false, false);
      version++;
    };
    while (version < VERSIONS) await update();

    // The default store where this checkout has one (after the pins); undefined before.
    const persistent = await import('../endpoint/rooms/persistent-trust-store.ts').catch(() => undefined);
    const kvNode = await import('../endpoint/platform/trust-kv-node.ts').catch(() => undefined);
    let namespaces = 0;
    const persistentStore = (): TrustStore | undefined =>
      persistent === undefined || kvNode === undefined
        ? undefined
        : new persistent.PersistentTrustStore(kvNode.openTrustKv({ directory: trustDir, namespace: `ns${namespaces++}` }));

    const keyTrustModule = await import('../endpoint/rooms/key-trust.ts').catch(() => undefined);
    /** A RoomApi whose key checks do nothing (only where they exist). */
    const noChecks = (store: TrustStore) =>
      keyTrustModule === undefined ? undefined : new RoomApi(reader, store, new KeyRing(), { check: async () => undefined } as never);
    const cpu: Record<string, number[]> = {};
    let current = '';
    const time = async (fn: () => Promise<unknown>) => {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await fn();
      const wall = performance.now() - t0;
      const c = process.cpuUsage(c0);
      (cpu[current] ??= []).push((c.user + c.system) / 1000);
      return wall;
    };
    const timed = (name: string, fn: () => Promise<unknown>) => {
      current = name;
      return time(fn);
    };
    const samples: Record<string, number[]> = {
      cold: [],
      coldNoChecks: [],
      coldPersistent: [],
      nextVersion: [],
      nextVersionNoChecks: [],
      nextVersionPersistent: [],
      unchanged: [],
    };
    const warmNoChecks = noChecks(new MemoryTrustStore());
    await warmNoChecks?.getStreamRoom(roomId);
    const warm = new RoomApi(reader, new MemoryTrustStore(), new KeyRing());
    await warm.getStreamRoom(roomId);
    const warmStore = persistentStore();
    const warmPersistent = warmStore === undefined ? undefined : new RoomApi(reader, warmStore, new KeyRing());
    await warmPersistent?.getStreamRoom(roomId);
    for (let round = -3; round < ROUNDS; round++) {
      if (round === 0) for (const k of Object.keys(cpu)) delete cpu[k]; // drop the warm-up
      const cold = await timed('cold', () => new RoomApi(reader, new MemoryTrustStore(), new KeyRing()).getStreamRoom(roomId));
      const bare = noChecks(new MemoryTrustStore());
      const coldNoChecks = bare === undefined ? undefined : await timed('coldNoChecks', () => bare.getStreamRoom(roomId));
      const store = persistentStore();
      const coldPersistent =
        store === undefined ? undefined : await timed('coldPersistent', () => new RoomApi(reader, store, new KeyRing()).getStreamRoom(roomId));
      await update();
      const nextVersion = await timed('nextVersion', () => warm.getStreamRoom(roomId));
      const nextVersionPersistent = warmPersistent === undefined ? undefined : await timed('nextVersionPersistent', () => warmPersistent.getStreamRoom(roomId));
      const nextVersionNoChecks = warmNoChecks === undefined ? undefined : await timed('nextVersionNoChecks', () => warmNoChecks.getStreamRoom(roomId));
      const unchanged = await timed('unchanged', () => warm.getStreamRoom(roomId));
      if (round < 0) continue; // warm-up
      samples.cold!.push(cold);
      if (coldPersistent !== undefined) samples.coldPersistent!.push(coldPersistent);
      samples.nextVersion!.push(nextVersion);
      if (nextVersionPersistent !== undefined) samples.nextVersionPersistent!.push(nextVersionPersistent);
      if (coldNoChecks !== undefined) samples.coldNoChecks!.push(coldNoChecks);
      if (nextVersionNoChecks !== undefined) samples.nextVersionNoChecks!.push(nextVersionNoChecks);
      samples.unchanged!.push(unchanged);
    }
    const out: Record<string, number | string> = { members: MEMBERS, versions: VERSIONS, rounds: ROUNDS };
    for (const [name, xs] of Object.entries(samples)) if (xs.length > 0) out[name] = Number(median(xs).toFixed(3));
    for (const [name, xs] of Object.entries(cpu)) if (xs.length > 0) out[`${name}Cpu`] = Number(median(xs).toFixed(3));

    if (keyTrustModule !== undefined) {
      // The first VERSIONS versions, as a cold reader gets them, verified once to have their records.
      const reply = await connectionInternals(reader).http.request('GET', `/v1/rooms/${encodeURIComponent(roomId)}?since=0`, roomResponseSchema);
      const records = reply.records.slice(0, VERSIONS).map((r) => ({ record: r.record, signature: r.signature }));
      const verifyChain = async () => {
        let head: VerifiedVersion | undefined;
        for (const r of records) head = head === undefined ? await verifyGenesis(r) : await verifySuccessor(head, r);
        return head!;
      };
      const versions: VerifiedVersion[] = [];
      {
        let head: VerifiedVersion | undefined;
        for (const r of records) versions.push((head = head === undefined ? await verifyGenesis(r) : await verifySuccessor(head, r)));
      }
      const uses = versions.flatMap(({ record }) => [
        { userId: record.author, publicKey: record.authorPublicKey, at: record.timestamp },
        ...[...record.users, ...record.managers].map((m) => ({ userId: m.userId, publicKey: m.publicKey, at: record.timestamp })),
      ]);
      const kt = new keyTrustModule.KeyTrust(reader, new MemoryTrustStore());
      const fail = (message: string) => new Error(message) as never;
      await kt.check(contextId, uses, fail); // pins everyone
      const checks: number[] = [];
      const chains: number[] = [];
      const cpuOf = async (fn: () => Promise<unknown>, n: number) => {
        const c0 = process.cpuUsage();
        for (let i = 0; i < n; i++) await fn();
        const c = process.cpuUsage(c0);
        return (c.user + c.system) / n;
      };
      for (let i = 0; i < 20; i++) {
        checks.push(await cpuOf(() => kt.check(contextId, uses, fail), 200));
        chains.push(await cpuOf(verifyChain, 5));
      }
      out.checksOnlyUs = Number(median(checks).toFixed(1));
      out.chainVerifyUs = Number(median(chains).toFixed(1));
    }
    console.log(JSON.stringify(out));
    await reader.disconnect();
    await writerConnection.disconnect();
  } finally {
    await bridge.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(trustDir, { recursive: true, force: true });
  }
}

await main();
