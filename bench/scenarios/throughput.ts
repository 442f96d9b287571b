/**
 * Scenario 1: byte-stream throughput, 1 GiB end to end, sender process -> relay process -> receiver
 * process, as MB/s (10^6 bytes per second), against a plaintext WebSocket relay through an equally
 * minimal relay process (bench/procs/plain-relay.ts) in the same run.
 *
 * The baseline half is here. The sealroom half (streamBytes through the Bridge, with the STREAM AEAD
 * and the end signature) needs byte streams, which land separately: it is the hook
 * `sealroomByteStreamThroughput` below.
 */
import { startBridgeProc } from '../lib/bridge.ts';
import { ProcGroup } from '../lib/procs.ts';
import { row, type ResultRow, type ScenarioOptions, type ScenarioResult } from '../lib/result.ts';
import { median } from '../lib/stats.ts';
import { makeTenant, pubOf } from '../lib/tenant.ts';
import { TUNED_SEMI_SPACE_MB } from './memory.ts';

const SCENARIO = 'byte-stream throughput, 1 sender -> relay -> 1 receiver';
const MiB = 1024 * 1024;

export interface ThroughputConfig {
  /** Bytes per timed run. */
  bytes: number;
  /** Bytes of the warm-up run. */
  warmupBytes: number;
  /** Size of each WebSocket message of the plaintext baseline. */
  chunkBytes: number;
  /** Size of each awaited `write()` of the sealroom sender (the writer seals it as 64 KiB chunks). */
  sealroomWriteBytes: number;
  runs: number;
}

const FULL: ThroughputConfig = { bytes: 1024 * MiB, warmupBytes: 128 * MiB, chunkBytes: 64 * 1024, sealroomWriteBytes: MiB, runs: 3 };
const QUICK: ThroughputConfig = { bytes: 256 * MiB, warmupBytes: 32 * MiB, chunkBytes: 64 * 1024, sealroomWriteBytes: MiB, runs: 3 };

/** The plaintext relay: MB/s of each timed run (after one warm-up run). */
export async function plainRelayThroughput(group: ProcGroup, config: ThroughputConfig): Promise<number[]> {
  const { info } = await group.fork<{ url: string }>('plain-relay.ts', { name: 'plain-relay' });
  const { proc: receiver } = await group.fork('plain-peer.ts', { name: 'plain-receiver' });
  const { proc: sender } = await group.fork('plain-peer.ts', { name: 'plain-sender' });
  await receiver.call('connect', { url: info.url, role: 'recv' });
  await sender.call('connect', { url: info.url, role: 'send' });
  let total = 0;
  const once = async (bytes: number): Promise<number> => {
    total += bytes;
    // Generous (10 MB/s) but finite: a relay that loses a message fails the run instead of hanging it.
    const timeoutMs = 30_000 + bytes / 10_000;
    const done = receiver.call<number>('expect', { total }, timeoutMs);
    const { startAt } = await sender.call<{ startAt: number }>('send', { bytes, chunkBytes: config.chunkBytes }, timeoutMs);
    const doneAt = await done;
    return bytes / ((doneAt - startAt) / 1000) / 1e6;
  };
  await once(config.warmupBytes);
  const runs: number[] = [];
  for (let r = 0; r < config.runs; r++) runs.push(await once(config.bytes));
  return runs;
}

/**
 * The sealroom half: the same bytes with `streamBytes` (STREAM AEAD, content hash, end signature) from
 * a sender process through a Bridge process to a receiver process whose handler reads every stream to
 * its verified end. One stream per run; MB/s from the first write to the last byte read and verified.
 */
export async function sealroomByteStreamThroughput(context: {
  group: ProcGroup;
  config: ThroughputConfig;
  startBridge: typeof startBridgeProc;
  /** Node flags of the Bridge process. */
  nodeFlags: string[];
}): Promise<{ mbPerSecond: number[]; notes: string[] }> {
  const { group, config } = context;
  const bridge = await context.startBridge(group, {}, { name: `bridge${context.nodeFlags.join('')}`, nodeFlags: context.nodeFlags });
  const tenant = await makeTenant(bridge.manage, ['sender', 'receiver']);
  const { proc: receiver } = await group.fork('stream-peer.ts', { name: 'stream-receiver' });
  const { proc: sender } = await group.fork('stream-peer.ts', { name: 'stream-sender' });
  await sender.call('connect', { url: bridge.url, solutionId: tenant.solutionId, user: tenant.users[0] });
  await receiver.call('connect', { url: bridge.url, solutionId: tenant.solutionId, user: tenant.users[1] });
  const roomId = await sender.call<string>('createRoom', { contextId: tenant.contextId, members: tenant.users.map(pubOf) });
  await receiver.call('join', { roomId, role: 'recv' });
  await sender.call('join', { roomId, role: 'send' });
  let total = 0;
  const once = async (bytes: number): Promise<number> => {
    total += bytes;
    const timeoutMs = 60_000 + bytes / 5_000;
    const done = receiver.call<number>('expect', { total }, timeoutMs);
    const { startAt } = await sender.call<{ startAt: number }>('send', { bytes, chunkBytes: config.sealroomWriteBytes }, timeoutMs);
    const doneAt = await done;
    return bytes / ((doneAt - startAt) / 1000) / 1e6;
  };
  await once(config.warmupBytes);
  const runs: number[] = [];
  for (let r = 0; r < config.runs; r++) runs.push(await once(config.bytes));
  return {
    mbPerSecond: runs,
    notes: [
      `sealroom: one streamBytes stream per run, awaited writes of ${config.sealroomWriteBytes / 1024} KiB (sealed as 64 KiB chunks), ` +
        'the Bridge window at its default (1 MiB); timed to the last byte read after the signature verified.',
    ],
  };
}

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const config = options.quick ? QUICK : FULL;
  const group = new ProcGroup();
  try {
    const plain = await plainRelayThroughput(group, config);
    const sealroom = await sealroomByteStreamThroughput({ group, config, startBridge: startBridgeProc, nodeFlags: [] });
    // The memory-tuned Bridge of scenario 5 (a smaller young generation): what its RSS saving costs here.
    const tunedFlag = `--max-semi-space-size=${TUNED_SEMI_SPACE_MB}`;
    const tuned = options.quick ? undefined : await sealroomByteStreamThroughput({ group, config, startBridge: startBridgeProc, nodeFlags: [tunedFlag] });
    const size = `${config.bytes / MiB} MiB`;
    const baseline = { name: 'plaintext WebSocket relay process', value: median(plain) };
    const rows: ResultRow[] = [];
    const notes = [
      `${config.runs} timed runs of ${size} in ${config.chunkBytes / 1024} KiB messages after a ${config.warmupBytes / MiB} MiB warm-up; sender, relay and receiver each in its own process; MB/s = 10^6 bytes/s from the first write to the last byte received.`,
      `plaintext relay runs: ${plain.map((v) => v.toFixed(0)).join(', ')} MB/s.`,
    ];
    rows.push(
      row(`e2e byte stream throughput, ${size}`, median(sealroom.mbPerSecond), 'MB/s', {
        baseline,
        target: { op: '>=', value: 0.85 * baseline.value, text: '>= 0.85 of the baseline' },
      }),
    );
    notes.push(`sealroom runs: ${sealroom.mbPerSecond.map((v) => v.toFixed(0)).join(', ')} MB/s.`, ...sealroom.notes);
    if (tuned !== undefined) {
      rows.push(row(`... same, Bridge run with ${tunedFlag}`, median(tuned.mbPerSecond), 'MB/s', { baseline }));
      notes.push(`with ${tunedFlag}: ${tuned.mbPerSecond.map((v) => v.toFixed(0)).join(', ')} MB/s.`);
    }
    return { scenario: SCENARIO, rows, notes };
  } finally {
    await group.close();
  }
}
