/**
 * verifyChain, the catch-up over many versions (docs/protocol/room-chain.md, "What a catch-up verifies"):
 * every rule on every version, the signatures of version 1, of the last version and of every version
 * that changes who may write, and the hash chain for the rest.
 */
import { describe, expect, it } from 'vitest';
import { toBase64 } from '../crypto/bytes.ts';
import { makeUsers, type TestUser } from '../test/identities.ts';
import { DEFAULT_POLICY } from './policy.ts';
import { verifyChain, verifyGenesis, type VerifiedVersion } from './room-chain.ts';
import { parseRecordText, recordHash, signRecord, type RoomRecord, type SignedRecord } from './room-record.ts';

const u = await makeUsers('alice', 'bob', 'carol', 'mallory');
const member = (user: TestUser) => ({ userId: user.userId, publicKey: user.publicKey });
/** A signature that verifies for nothing. */
const FORGED = toBase64(new Uint8Array(64).fill(1));

const genesisRecord: RoomRecord = {
  format: 1,
  roomId: 'room_0123456789abcdef',
  contextId: 'ctx-1',
  version: 1,
  prevHash: null,
  creator: 'alice',
  author: 'alice',
  authorPublicKey: u.alice.publicKey,
  timestamp: 1_700_000_000_000,
  users: [member(u.alice), member(u.bob), member(u.carol), member(u.mallory)],
  managers: [member(u.alice), member(u.bob)],
  policy: { ...DEFAULT_POLICY },
  publicMeta: '',
  privateMeta: 'AAAA',
  epoch: 1,
  keySetRoot: toBase64(new Uint8Array(32)),
  keySetSize: 4,
};

interface Step {
  author: TestUser;
  change?: Partial<RoomRecord>;
  /** Signed by someone else's key (the Bridge made it up). */
  forged?: boolean;
}

/** Version 1 verified, then `steps` as signed records on top of it. */
async function chain(steps: Step[]): Promise<{ v1: VerifiedVersion; records: SignedRecord[] }> {
  const v1 = await verifyGenesis(await signRecord(genesisRecord, u.alice.seed));
  const records: SignedRecord[] = [];
  let prev = { record: v1.record, hash: v1.hash };
  for (const step of steps) {
    const record: RoomRecord = {
      ...prev.record,
      version: prev.record.version + 1,
      prevHash: toBase64(prev.hash),
      author: step.author.userId,
      authorPublicKey: step.author.publicKey,
      timestamp: prev.record.timestamp + 1000,
      keySetRoot: '',
      keySetSize: 0,
      publicMeta: toBase64(new Uint8Array([prev.record.version])),
      ...step.change,
    };
    const signed = await signRecord(record, step.author.seed);
    records.push(step.forged === true ? { ...signed, signature: FORGED } : signed);
    prev = { record, hash: recordHash(signed.record) };
  }
  return { v1, records };
}

const metaUpdates = (n: number): Step[] => Array.from({ length: n }, (_, i) => ({ author: i % 2 === 0 ? u.alice : u.bob }));

describe('verifyChain', () => {
  it('verifies a run of meta updates and shares their unchanged member lists', async () => {
    const { v1, records } = await chain(metaUpdates(6));
    const out = await verifyChain(v1, records);
    expect(out.map((v) => v.record.version)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(out[5]!.record.users).toBe(v1.record.users);
    expect(out[5]!.record.managers).toBe(v1.record.managers);
    expect(toBase64(out[5]!.hash)).toBe(toBase64(recordHash(records[5]!.record)));
  });

  it('checks the signature of the last version', async () => {
    const { v1, records } = await chain([...metaUpdates(4), { author: u.alice, forged: true }]);
    await expect(verifyChain(v1, records)).rejects.toMatchObject({ reason: 'BadSignature', message: /version 6/ });
  });

  it('checks the signature of version 1', async () => {
    const { records } = await chain(metaUpdates(2));
    const v1 = await signRecord(genesisRecord, u.alice.seed);
    await expect(verifyChain(undefined, [{ ...v1, signature: FORGED }, ...records])).rejects.toMatchObject({ reason: 'BadSignature', message: /version 1/ });
    await expect(verifyChain(undefined, [v1, ...records])).resolves.toHaveLength(3);
  });

  it('checks the signature of a version that adds a manager: a member cannot make itself one', async () => {
    // mallory, a member, and the Bridge: "alice" adds mallory as a manager, then mallory writes.
    const { v1, records } = await chain([
      ...metaUpdates(2),
      { author: u.alice, forged: true, change: { managers: [member(u.alice), member(u.bob), member(u.mallory)] } },
      { author: u.mallory },
      { author: u.mallory },
    ]);
    await expect(verifyChain(v1, records)).rejects.toMatchObject({ reason: 'BadSignature', message: /version 4/ });
  });

  it('checks the signature of a version that removes a manager or changes a manager key', async () => {
    const removed = await chain([{ author: u.alice, forged: true, change: { managers: [member(u.alice)] } }, { author: u.alice }]);
    await expect(verifyChain(removed.v1, removed.records)).rejects.toMatchObject({ reason: 'BadSignature', message: /version 2/ });
    const swapped = await chain([{ author: u.alice, forged: true, change: { managers: [member(u.alice), member(u.carol)] } }, { author: u.alice }]);
    await expect(verifyChain(swapped.v1, swapped.records)).rejects.toMatchObject({ reason: 'BadSignature', message: /version 2/ });
  });

  it('checks the signature of a version that changes the policy', async () => {
    const { v1, records } = await chain([{ author: u.alice, forged: true, change: { policy: { ...DEFAULT_POLICY, update: 'owner' } } }, { author: u.alice }]);
    await expect(verifyChain(v1, records)).rejects.toMatchObject({ reason: 'BadSignature', message: /version 2/ });
  });

  it('holds an unchanged-authority version to the hash chain: its bytes cannot change', async () => {
    const { v1, records } = await chain(metaUpdates(4));
    const edited = JSON.parse(records[1]!.record) as RoomRecord;
    edited.publicMeta = toBase64(new Uint8Array([42]));
    const tampered = [...records];
    tampered[1] = { record: JSON.stringify(edited), signature: records[1]!.signature };
    await expect(verifyChain(v1, tampered)).rejects.toMatchObject({ reason: 'BrokenChain', message: /version 4: previous hash/ });
    // Its signature is not what proves it, the next verified signature is: a version that changes no
    // authority is vouched for by the hash chain up to it (docs/protocol/room-chain.md).
    const unsigned = [...records];
    unsigned[1] = { ...records[1]!, signature: FORGED };
    await expect(verifyChain(v1, unsigned)).resolves.toHaveLength(4);
    // As the last version it proves itself.
    await expect(verifyChain(v1, unsigned.slice(0, 2))).rejects.toMatchObject({ reason: 'BadSignature', message: /version 3/ });
  });

  it('applies every other rule to every version', async () => {
    const byMember = await chain([{ author: u.carol }, { author: u.alice }]);
    await expect(verifyChain(byMember.v1, byMember.records)).rejects.toMatchObject({ reason: 'Unauthorized', message: /version 2/ });
    const removal = await chain([{ author: u.alice, change: { users: [member(u.alice), member(u.bob), member(u.carol)] } }, { author: u.alice }]);
    await expect(verifyChain(removal.v1, removal.records)).rejects.toMatchObject({ reason: 'BadEpoch', message: /version 2/ });
  });
});

describe('parseRecordText against a known record', () => {
  it('validates member lists that differ from the known ones, including an extra field', async () => {
    const text = JSON.stringify({ ...genesisRecord, users: [{ ...member(u.alice), admin: true }, ...genesisRecord.users.slice(1)] });
    expect(() => parseRecordText(text, genesisRecord)).toThrow(/record\.users\.0/);
    const badKey = JSON.stringify({ ...genesisRecord, users: [{ userId: 'alice', publicKey: 'srpk1nope' }] });
    expect(() => parseRecordText(badKey, genesisRecord)).toThrow(/record\.users\.0\.publicKey/);
    const same = parseRecordText(JSON.stringify(genesisRecord), genesisRecord);
    expect(same.users).toBe(genesisRecord.users);
  });

  it('shares the carried fields it repeats, and validates each one that differs', () => {
    const same = parseRecordText(JSON.stringify({ ...genesisRecord, version: 2 }), genesisRecord);
    expect(same.policy).toBe(genesisRecord.policy);
    expect(same.managers).toBe(genesisRecord.managers);
    expect(same.version).toBe(2);
    // Each carried field, changed to a value no record may hold, with every other field repeated.
    const bad: Array<[Partial<Record<keyof RoomRecord, unknown>>, RegExp]> = [
      [{ roomId: 'short' }, /record\.roomId/],
      [{ contextId: 'ctx 1' }, /record\.contextId/],
      [{ creator: 'al ice' }, /record\.creator/],
      [{ author: '' }, /record\.author/],
      [{ authorPublicKey: 'srpk1nope' }, /record\.authorPublicKey/],
      [{ policy: { ...DEFAULT_POLICY, update: 'all' } }, /record\.policy\.update/],
      [{ policy: { ...DEFAULT_POLICY, extra: 'x' } }, /record\.policy/],
      [{ policy: ['user', 'user', 'manager', 'manager', 'manager'] }, /record\.policy/],
    ];
    for (const [change, message] of bad) {
      expect(() => parseRecordText(JSON.stringify({ ...genesisRecord, ...change }), genesisRecord)).toThrow(message);
    }
    // A valid change is taken, and not shared.
    const owner = parseRecordText(JSON.stringify({ ...genesisRecord, policy: { ...DEFAULT_POLICY, update: 'owner' } }), genesisRecord);
    expect(owner.policy).toEqual({ ...DEFAULT_POLICY, update: 'owner' });
    expect(owner.users).toBe(genesisRecord.users);
    // The fields that are not carried are validated in a successor that repeats every carried one.
    for (const [change, message] of [
      [{ prevHash: 'not base64!' }, /record\.prevHash/],
      [{ version: 0 }, /record\.version/],
      [{ keySetRoot: '', keySetSize: 3 }, /record\.keySetRoot/],
      [{ privateMeta: 'A'.repeat(100_000) }, /record\.privateMeta/],
      [{ stray: 1 }, /record/],
    ] as Array<[object, RegExp]>) {
      expect(() => parseRecordText(JSON.stringify({ ...genesisRecord, ...change }), genesisRecord)).toThrow(message);
    }
  });
});

describe('recordHash', () => {
  it('hashes the framed text, whatever the texts hashed before it left in its scratch', async () => {
    const { backend } = await import('../crypto/backend/index.ts');
    const { lengthPrefixed, utf8 } = await import('../crypto/bytes.ts');
    const { DOMAIN } = await import('../crypto/domains.ts');
    const reference = (text: string) => toBase64(backend().hash('sha256', lengthPrefixed(utf8(DOMAIN.roomRecordHash), utf8(text))));
    // Long then short (leftover bytes after the text), non-ASCII, and one past the scratch's bound.
    for (const text of ['x'.repeat(5000), '{}', 'é€😀'.repeat(300), 'a', 'b'.repeat(300_000), 'c']) {
      expect(toBase64(recordHash(text))).toBe(reference(text));
    }
  });
});

describe('parseRecordText against a known record, differentially', () => {
  const outcome = (parse: () => RoomRecord) => {
    try {
      return { ok: true, record: parse() };
    } catch (error) {
      return { ok: false, message: (error as Error).message };
    }
  };

  it('decides every field the successor fast path checks as the schema does, at and around each bound', () => {
    const known = parseRecordText(JSON.stringify(genesisRecord));
    const base = { ...genesisRecord, version: 2, prevHash: toBase64(new Uint8Array(32).fill(7)), keySetRoot: '', keySetSize: 0 };
    const adding = { ...base, keySetRoot: toBase64(new Uint8Array(32).fill(9)), keySetSize: 4 };
    const numbers = [-(2 ** 53), -5, -1, 0, 1, 1.5, 2, 8192, 8193, 2 ** 53 - 1, 2 ** 53, 1e300];
    const strings = [
      '',
      'AAAA',
      'AA=A',
      'AAA=',
      'AA==',
      'A===',
      '====',
      'not base64!',
      'AAAA\n',
      ...[43, 44, 45, 87_384, 87_385, 87_420, 87_421].map((n) => 'A'.repeat(n)),
    ];
    const values: unknown[] = [...numbers, ...strings, null, true, [], {}, ['AAAA']];
    let fast = 0;
    for (const record of [base, adding]) {
      for (const field of ['format', 'version', 'prevHash', 'timestamp', 'publicMeta', 'privateMeta', 'epoch', 'keySetRoot', 'keySetSize'] as const) {
        for (const value of values) {
          const text = JSON.stringify({ ...record, [field]: value });
          const alone = outcome(() => parseRecordText(text));
          const withKnown = outcome(() => parseRecordText(text, known));
          expect({ field, value, ok: withKnown.ok }).toEqual({ field, value, ok: alone.ok });
          if (alone.ok) {
            expect(withKnown.record).toEqual(alone.record);
            fast++;
          }
        }
      }
    }
    expect(fast).toBeGreaterThan(50);
  });

  it('accepts and refuses exactly what a parse without it does, and gives the same record', async () => {
    const fc = await import('fast-check');
    const known = parseRecordText(JSON.stringify(genesisRecord));
    const successor = { ...genesisRecord, version: 2, prevHash: toBase64(new Uint8Array(32).fill(7)), keySetRoot: '', keySetSize: 0 };
    // And one that adds keys: its key-set size is then checked against its bound.
    const adding = { ...successor, keySetRoot: toBase64(new Uint8Array(32).fill(9)), keySetSize: 4 };
    const fields = Object.keys(successor) as Array<keyof RoomRecord>;
    // Values a field might hold: other valid ones, each carried field's known value, and wrong ones.
    const value = fc.oneof(
      fc.constantFrom<unknown>(
        null,
        0,
        1,
        -1,
        2 ** 53,
        '',
        'AAAA',
        'not base64!',
        'room_0123456789abcdef',
        'room_other_0123456789',
        'ctx-1',
        'ctx 2',
        'alice',
        'bob',
        'al ice',
        u.alice.publicKey,
        u.bob.publicKey,
        'srpk1nope',
        [],
        {},
        genesisRecord.users,
        genesisRecord.managers,
        [member(u.alice)],
        [{ ...member(u.alice), admin: true }],
        [member(u.alice), member(u.alice)],
        [{ userId: 'alice', publicKey: u.bob.publicKey }],
        DEFAULT_POLICY,
        { ...DEFAULT_POLICY, update: 'owner' },
        { ...DEFAULT_POLICY, update: 'all' },
        { ...DEFAULT_POLICY, extra: 'x' },
        { get: 'user' },
        ['user', 'user', 'manager', 'manager', 'manager'],
        // Around the bounds of the fields the successor fast path checks (room-record.ts, `successorRecord`).
        1.5,
        2 ** 53 - 1,
        8192,
        8193,
        'AA=A',
        'AAA=',
        '====',
        'A'.repeat(44),
        'A'.repeat(45),
        'A'.repeat(87_384),
        'A'.repeat(87_385),
        'A'.repeat(87_420),
        'A'.repeat(87_421),
      ),
      fc.string(),
      fc.integer(),
      fc.double(),
    );
    const change = fc.array(
      fc.tuple(fc.oneof(fc.constantFrom(...fields), fc.constantFrom('stray', 'constructor', '__proto__')), fc.option(value, { nil: undefined })),
      {
        maxLength: 3,
      },
    );
    fc.assert(
      fc.property(fc.boolean(), change, (withKeys, changes) => {
        const record: Record<string, unknown> = { ...(withKeys ? adding : successor) };
        for (const [field, v] of changes) {
          if (v === undefined) delete record[field];
          else Object.defineProperty(record, field, { value: v, enumerable: true, configurable: true, writable: true }); // an own "__proto__" too
        }
        const text = JSON.stringify(record);
        const alone = outcome(() => parseRecordText(text));
        const withKnown = outcome(() => parseRecordText(text, known));
        expect(withKnown.ok).toBe(alone.ok);
        if (alone.ok) expect(withKnown.record).toEqual(alone.record);
      }),
      { numRuns: 10_000 },
    );
  });
});
