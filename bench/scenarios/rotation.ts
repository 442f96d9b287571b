/**
 * Scenario 3: key rotation. `updateStreamRoom(..., forceGenerateNewKey = true)` in rooms of 10, 100
 * and 1,000 members (the manager included), timed from the call until every member has the new key.
 *
 * Processes: the Bridge; the manager (one Endpoint, bench/procs/manager.ts); member processes holding
 * the members' Endpoint connections (bench/procs/members.ts), subscribed to the context's
 * `streamRoomUpdated` events, each having read the room once before.
 *
 * - client part: the manager's `updateStreamRoom` minus its HTTP round trips (timed on the client):
 *   verifying what changed since its trusted head, a new epoch key wrapped (HPKE) for every member,
 *   the key-set Merkle root, the private meta sealed, the record signed and verified back;
 * - Bridge part: the PUT's time at the Bridge (headers parsed to response written; diagnostics
 *   channels in bench/procs/bridge.ts): body parse, validation, record checks, key set, SQLite;
 * - member part: from the call until the last member's verified `streamRoomUpdated` (its new version
 *   verified, its key's proof checked and unwrapped, the meta opened); the baseline is when the last
 *   member merely got the notification.
 *
 * Cold = the first rotation by a fresh manager process (it has read the room once, but never wrapped
 * to these members: each first wrap converts the member's Ed25519 key to X25519). Warm = later ones.
 * Baselines: for the client part, the node:crypto floor of N wraps (N ephemeral X25519 key pairs and N
 * agreements); for the Bridge part, the same room's update without a new key (no wrapped keys).
 */
import { nowMs } from '../lib/clock.ts';
import { startBridgeProc, type BridgeProc } from '../lib/bridge.ts';
import { ProcGroup, type Proc } from '../lib/procs.ts';
import { row, type ResultRow, type ScenarioOptions, type ScenarioResult } from '../lib/result.ts';
import { median } from '../lib/stats.ts';
import { makeTenant, pubOf, split, type BenchUser } from '../lib/tenant.ts';
import type { UpdateTiming } from '../procs/manager.ts';

const SCENARIO = 'key rotation (updateStreamRoom with forceGenerateNewKey)';
/** One update of a 1,000-member room takes about a second here; anything near this is a hang. */
const UPDATE_TIMEOUT_MS = 30_000;
/** The machine's cores (the issue's reference machine), for the member-read projection. */
const CORES = 2;

interface Size {
  /** Members including the manager. */
  n: number;
  /** Member processes; 0 measures the manager and Bridge parts only. */
  memberProcs: number;
  /** Warm rotations while the members are connected. */
  warmWithMembers: number;
  /** How long the members may take, ms. */
  memberTimeoutMs: number;
}

interface Config {
  sizes: Size[];
  /** Further warm rotations after the members left (manager and Bridge parts only). */
  warmExtra: number;
  /**
   * Members of a room are left out when their first read (each member verifies the room once before
   * the first rotation) is projected to take longer than this on the machine's 2 cores: the projection
   * is members x the manager's own first read of the room / 2. Milliseconds.
   */
  memberReadBudgetMs: number;
}

const FULL: Config = {
  sizes: [
    { n: 10, memberProcs: 1, warmWithMembers: 3, memberTimeoutMs: 30_000 },
    { n: 100, memberProcs: 1, warmWithMembers: 3, memberTimeoutMs: 60_000 },
    { n: 1000, memberProcs: 4, warmWithMembers: 1, memberTimeoutMs: 240_000 },
  ],
  warmExtra: 3,
  memberReadBudgetMs: 30_000,
};
const QUICK: Config = {
  sizes: [
    { n: 10, memberProcs: 1, warmWithMembers: 1, memberTimeoutMs: 30_000 },
    { n: 100, memberProcs: 0, warmWithMembers: 0, memberTimeoutMs: 0 },
    { n: 1000, memberProcs: 0, warmWithMembers: 0, memberTimeoutMs: 0 },
  ],
  warmExtra: 1,
  memberReadBudgetMs: 15_000,
};

interface Rotation {
  cold: boolean;
  client: number;
  bridge: number;
  putRtt: number;
  total: number;
  members?: { done: number; of: number; lastVerified: number; lastNotified: number };
}

interface RoomState {
  size: Size;
  roomId: string;
  users: BenchUser[];
  memberProcs: Proc[];
  rotations: Rotation[];
  /** The fresh manager's first read of the room (full verification), ms. */
  firstReadMs?: number;
  /** Why the members were left out, if they were. */
  membersSkipped?: string;
  noKeyBridge?: number;
  noKeyClient?: number;
  floor?: number;
}

async function timedUpdate(
  manager: Proc,
  bridge: BridgeProc,
  room: RoomState,
  rotate: boolean,
): Promise<{ timing: UpdateTiming; client: number; bridge: number; putRtt: number }> {
  await bridge.takeTimings();
  let timing: UpdateTiming;
  try {
    timing = await manager.call<UpdateTiming>('update', { roomId: room.roomId, rotate }, UPDATE_TIMEOUT_MS);
  } catch (error) {
    const pending = await manager.call('inflight', undefined, 5000).catch(() => 'unknown');
    throw new Error(`${(error as Error).message}; REST calls in flight at the manager: ${JSON.stringify(pending)}`, { cause: error });
  }
  const atBridge = await bridge.takeTimings(`/v1/rooms/${room.roomId}`);
  const put = atBridge.find((t) => t.method === 'PUT');
  const clientPut = timing.http.find((c) => c.method === 'PUT');
  if (put === undefined || clientPut === undefined) throw new Error(`no PUT of room ${room.roomId} recorded`);
  const http = timing.http.reduce((sum, c) => sum + c.ms, 0);
  return { timing, client: timing.total - http, bridge: put.ms, putRtt: clientPut.ms };
}

async function rotate(manager: Proc, bridge: BridgeProc, room: RoomState, cold: boolean, withMembers: boolean): Promise<Rotation> {
  const { timing, client, bridge: atBridge, putRtt } = await timedUpdate(manager, bridge, room, true);
  const rotation: Rotation = { cold, client, bridge: atBridge, putRtt, total: timing.total };
  if (withMembers && room.memberProcs.length > 0) {
    const parts = await Promise.all(
      room.memberProcs.map((m) =>
        m.call<{ members: number; done: number; lastVerified: number; lastNotified: number }>(
          'expect',
          { roomId: room.roomId, epoch: timing.epoch, timeoutMs: room.size.memberTimeoutMs },
          room.size.memberTimeoutMs + 30_000,
        ),
      ),
    );
    rotation.members = {
      done: parts.reduce((a, p) => a + p.done, 0),
      of: parts.reduce((a, p) => a + p.members, 0),
      lastVerified: Math.max(...parts.map((p) => p.lastVerified)) - timing.t0,
      lastNotified: Math.max(...parts.map((p) => p.lastNotified)) - timing.t0,
    };
  }
  room.rotations.push(rotation);
  return rotation;
}

function roomRows(room: RoomState): ResultRow[] {
  const n = room.size.n;
  const warm = room.rotations.filter((r) => !r.cold);
  const cold = room.rotations.filter((r) => r.cold);
  const floor = { name: `node:crypto floor: ${n} X25519 key pairs + agreements`, value: room.floor! };
  const clientTarget = n === 1000 ? { target: { op: '<' as const, value: 150 } } : {};
  const rows = [
    row(`${n} members: client part, warm`, median(warm.map((r) => r.client)), 'ms', { baseline: floor, ...clientTarget }),
    row(`${n} members: client part, cold (first wraps to these keys)`, median(cold.map((r) => r.client)), 'ms', { baseline: floor }),
    row(`${n} members: Bridge part (PUT at the Bridge), warm`, median(warm.map((r) => r.bridge)), 'ms', {
      baseline: { name: 'same update without a new key', value: room.noKeyBridge! },
    }),
  ];
  const withMembers = room.rotations.filter((r) => r.members !== undefined && !r.cold);
  if (room.membersSkipped !== undefined) {
    rows.push(row(`${n} members: until every member has the new key (NOT MEASURED, see notes)`, Number.NaN, 'ms'));
  } else if (withMembers.length > 0) {
    rows.push(
      row(`${n} members: until every member has the new key, warm`, median(withMembers.map((r) => r.members!.lastVerified)), 'ms', {
        baseline: { name: 'until every member was notified', value: median(withMembers.map((r) => r.members!.lastNotified)) },
      }),
    );
  }
  return rows;
}

function roomNote(room: RoomState): string {
  const f = (v: number) => v.toFixed(1);
  const list = room.rotations
    .map((r) => {
      const m =
        r.members === undefined
          ? ''
          : `, members ${f(r.members.lastVerified)} (notified ${f(r.members.lastNotified)}${r.members.done < r.members.of ? `, ONLY ${r.members.done}/${r.members.of} done` : ''})`;
      return `${r.cold ? 'cold' : 'warm'}: total ${f(r.total)} = client ${f(r.client)} + round trips (PUT ${f(r.putRtt)}, of which Bridge ${f(r.bridge)})${m}`;
    })
    .join('; ');
  return `${room.size.n} members, per rotation (ms): ${list}. Without a new key: client ${f(room.noKeyClient!)}, Bridge ${f(room.noKeyBridge!)}.`;
}

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const config = options.quick ? QUICK : FULL;
  const group = new ProcGroup();
  try {
    const bridge = await startBridgeProc(group);
    const ids = ['mgr'];
    for (const size of config.sizes) for (let i = 1; i < size.n; i++) ids.push(`r${size.n}m${i}`);
    const tenant = await makeTenant(bridge.manage, ids, 'rotation');
    const mgr = tenant.users[0]!;
    const connect = { url: bridge.url, solutionId: tenant.solutionId };

    // Rooms are created by one manager process; a fresh one rotates them, so its first wraps are cold.
    // Both start at once: the second sits idle until the rooms exist.
    const [creator, manager] = (await group.forkAll('manager.ts', [{ name: 'manager-creator' }, { name: 'manager' }])).map((f) => f.proc) as [Proc, Proc];
    await creator.call('connect', { ...connect, user: mgr });
    const rooms: RoomState[] = [];
    for (const size of config.sizes) {
      const users = tenant.users.filter((u) => u.userId.startsWith(`r${size.n}m`));
      const roomId = await creator.call<string>(
        'createRoom',
        { contextId: tenant.contextId, users: [mgr, ...users].map(pubOf), managers: [pubOf(mgr)] },
        300_000,
      );
      rooms.push({ size, roomId, users, memberProcs: [], rotations: [] });
    }
    await creator.stop();

    // The fresh manager reads every room once (full verification; not timed as part of a rotation).
    await manager.call('connect', { ...connect, user: mgr });
    for (const room of rooms) {
      const start = nowMs();
      await manager.call('read', { roomId: room.roomId }, 300_000);
      room.firstReadMs = nowMs() - start;
      const projected = ((room.size.n - 1) * room.firstReadMs) / CORES;
      if (room.size.memberProcs > 0 && projected > config.memberReadBudgetMs) {
        room.membersSkipped = `its ${room.size.n - 1} members' first reads are projected at ${(projected / 1000).toFixed(0)} s (${room.firstReadMs.toFixed(0)} ms per read, as the manager's own first read took, on ${CORES} cores), over the ${config.memberReadBudgetMs / 1000} s budget`;
      }
    }

    let readRetries = 0;
    for (const room of rooms) {
      if (room.size.memberProcs === 0 || room.membersSkipped !== undefined) continue;
      const groups = split(room.users, room.size.memberProcs);
      room.memberProcs = (
        await group.forkAll(
          'members.ts',
          groups.map((_, i) => ({ name: `members-${room.size.n}-${i}` })),
        )
      ).map((f) => f.proc);
      await Promise.all(
        room.memberProcs.map(async (m, i) => {
          await m.call('connect', { ...connect, contextId: tenant.contextId, users: groups[i] }, 300_000);
          readRetries += (await m.call<{ retries: number }>('read', { roomId: room.roomId }, 600_000)).retries;
        }),
      );
    }

    await bridge.recordTimings();
    for (const room of rooms) {
      await rotate(manager, bridge, room, true, true);
      for (let i = 0; i < room.size.warmWithMembers; i++) await rotate(manager, bridge, room, false, true);
    }
    for (const room of rooms) await Promise.all(room.memberProcs.map((m) => m.stop()));
    for (const room of rooms) {
      for (let i = 0; i < config.warmExtra; i++) await rotate(manager, bridge, room, false, false);
      const noKey = await timedUpdate(manager, bridge, room, false);
      room.noKeyBridge = noKey.bridge;
      room.noKeyClient = noKey.client;
      room.floor = await manager.call<number>('x25519Floor', { n: room.size.n });
    }

    const notes = [
      'Members are Endpoint connections (the path real members run: event, fetch, chain verification, Merkle proof, HPKE unwrap, meta AEAD), held by member processes; each read the room once before the first rotation.',
      "The Bridge part runs from the PUT's headers parsed to its response's 'finish' (flushed to the socket); when the Bridge's event loop is busy, 'finish' can come after the client has read the response, so it may slightly exceed the round trip.",
      'The member baseline (notified) is when the raw event reached each member process: with many members per process, a member is notified only once its process is done with the members before it, so it grows with the members part.',
      `Cold: the first rotation by a fresh manager process; warm: later rotations (${config.sizes.map((s) => `${s.n}: ${s.warmWithMembers} with members + ${config.warmExtra} without`).join(', ')}); the table shows medians.`,
      ...rooms.map(roomNote),
    ];
    if (readRetries > 0)
      notes.push(
        `${readRetries} member reads before the first rotation failed with ConnectionLost (undici reused a keep-alive socket the Bridge had closed: "other side closed") and were retried.`,
      );
    const skipped = rooms.filter((r) => r.size.memberProcs === 0).map((r) => r.size.n);
    if (skipped.length > 0) notes.push(`Member part not measured in this mode for ${skipped.join(', ')} members (quick mode: manager and Bridge parts only).`);
    for (const room of rooms)
      if (room.membersSkipped !== undefined) notes.push(`MISSING: member part of the ${room.size.n}-member room not measured: ${room.membersSkipped}.`);
    notes.push(
      `The manager's first read of each room (full chain verification and the context directory): ${rooms.map((r) => `${r.size.n}: ${r.firstReadMs!.toFixed(0)} ms`).join(', ')}.`,
    );
    return { scenario: SCENARIO, rows: rooms.flatMap(roomRows), notes };
  } finally {
    await group.close();
  }
}
