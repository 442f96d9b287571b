/** HeadTracker: members on other heads than this client's (docs/security/bridge-adversary.md). */
import { describe, expect, it } from 'vitest';
import { HEAD_FETCH_INTERVAL_MS, HeadTracker, MAX_DIVERGING_MEMBERS, MIN_HEAD_PREFIX_BYTES, type StaleView } from './head-tracker.ts';

const hash = (byte: number) => new Uint8Array(32).fill(byte);

function tracker(staleAfterMs = 1000) {
  let now = 0;
  const fetched: string[] = [];
  const stale: StaleView[] = [];
  const heads = new HeadTracker({ staleAfterMs, fetch: (roomId) => fetched.push(roomId), onStale: (v) => stale.push(v), now: () => now });
  return { heads, fetched, stale, advance: (ms: number) => (now += ms) };
}

describe('HeadTracker', () => {
  it('ignores members on the same head, and rooms it has no own head for', () => {
    const { heads, fetched, stale } = tracker();
    heads.observeHead('r', 'bob', 5, hash(5));
    heads.setOwn('r', 2, hash(2));
    heads.observeHead('r', 'bob', 2, hash(2));
    expect(heads.own('r')).toEqual({ version: 2, hash: hash(2) });
    expect([fetched, stale]).toEqual([[], []]);
  });

  it('fetches when a member names a newer head, at most once per interval; agreeing again ends it', () => {
    const { heads, fetched, stale, advance } = tracker(10_000);
    heads.setOwn('r', 2, hash(2));
    heads.observeHead('r', 'bob', 3, hash(3));
    heads.observeHead('r', 'bob', 3, hash(3));
    expect(fetched).toEqual(['r']);
    advance(HEAD_FETCH_INTERVAL_MS);
    heads.observeHead('r', 'bob', 3, hash(3));
    expect(fetched).toEqual(['r', 'r']);
    heads.setOwn('r', 3, hash(3));
    advance(5000);
    heads.observeHead('r', 'bob', 3, hash(3));
    expect(stale).toEqual([]);
  });

  it('reports a member that stays ahead (its head cannot be fetched) or behind past the bound, once', () => {
    const { heads, stale, advance } = tracker(1000);
    heads.setOwn('r', 2, hash(2));
    heads.observeHead('r', 'bob', 1, hash(1));
    heads.observeHead('r', 'carol', 3, hash(3));
    advance(999);
    heads.observeHead('r', 'bob', 1, hash(1));
    expect(stale).toEqual([]);
    advance(1);
    heads.observeHead('r', 'bob', 1, hash(1));
    heads.observeHead('r', 'bob', 1, hash(1));
    heads.observeHead('r', 'carol', 3, hash(3));
    expect(stale).toEqual([
      {
        roomId: 'r',
        userId: 'bob',
        reason: 'behind',
        theirVersion: 1,
        theirHeadHash: btoa('\x01'.repeat(32)),
        ourVersion: 2,
        ourHeadHash: btoa('\x02'.repeat(32)),
        sinceMs: 1000,
      },
      expect.objectContaining({ userId: 'carol', reason: 'ahead', theirVersion: 3, ourVersion: 2 }),
    ]);
    // Moving on without agreeing is the same split: reported again for the new pair of versions.
    heads.setOwn('r', 3, hash(3));
    heads.observeHead('r', 'bob', 1, hash(1));
    expect(stale.at(-1)).toMatchObject({ userId: 'bob', reason: 'behind', ourVersion: 3, sinceMs: 1000 });
    expect(stale).toHaveLength(3);
  });

  it('reports a fork (one version, two records) at once', () => {
    const { heads, stale } = tracker();
    heads.setOwn('r', 2, hash(2));
    heads.observeHead('r', 'bob', 2, hash(9));
    expect(stale).toMatchObject([{ userId: 'bob', reason: 'fork', theirVersion: 2, ourVersion: 2, sinceMs: 0 }]);
  });

  it(`takes a hash of at least ${MIN_HEAD_PREFIX_BYTES} bytes as a prefix of the head's (media frames), and a shorter one as another head`, () => {
    const { heads, stale } = tracker();
    heads.setOwn('r', 2, hash(2));
    heads.observeHead('r', 'bob', 2, hash(2).subarray(0, MIN_HEAD_PREFIX_BYTES));
    expect(stale).toEqual([]);
    heads.observeHead('r', 'carol', 2, hash(9).subarray(0, MIN_HEAD_PREFIX_BYTES));
    expect(stale).toMatchObject([{ userId: 'carol', reason: 'fork' }]);
    heads.observeHead('r', 'dave', 2, hash(2).subarray(0, MIN_HEAD_PREFIX_BYTES - 1));
    expect(stale).toMatchObject([{ userId: 'carol' }, { userId: 'dave', reason: 'fork' }]);
  });

  it('never goes back to an older own head, and forgets a room', () => {
    const { heads } = tracker();
    heads.setOwn('r', 3, hash(3));
    heads.setOwn('r', 2, hash(2));
    expect(heads.own('r')?.version).toBe(3);
    heads.forget('r');
    expect(heads.own('r')).toBeUndefined();
  });

  it(`follows at most ${MAX_DIVERGING_MEMBERS} diverging members per room`, () => {
    const { heads, stale, advance } = tracker(0);
    heads.setOwn('r', 2, hash(2));
    for (let i = 0; i <= MAX_DIVERGING_MEMBERS; i++) heads.observeHead('r', `u${i}`, 1, hash(1));
    advance(1);
    heads.observeHead('r', `u${MAX_DIVERGING_MEMBERS}`, 1, hash(1));
    expect(stale).toHaveLength(MAX_DIVERGING_MEMBERS);
  });
});
