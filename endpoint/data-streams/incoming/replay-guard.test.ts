/** The memory of stream ids: refused when seen, or signed outside the window; bounded per sender and per room. */
import { describe, expect, it } from 'vitest';
import { ReplayGuard, STREAM_IDS_PER_ROOM_MAX, STREAM_IDS_PER_SENDER_MAX, STREAM_REPLAY_WINDOW_MS } from './replay-guard.ts';

const A = 'room_aaaaaaaaaaaaaaaa';
const B = 'room_bbbbbbbbbbbbbbbb';

function clock(start = 1_700_000_000_000) {
  const c = { now: start, tick: (ms: number) => (c.now += ms) };
  return c;
}

describe('ReplayGuard', () => {
  it('admits a stream id once per room and sender', () => {
    const c = clock();
    const guard = new ReplayGuard({ now: () => c.now });
    expect(guard.admit(A, 'alice', 's1', c.now)).toBe('fresh');
    expect(guard.admit(A, 'alice', 's1', c.now)).toBe('replayed');
    expect(guard.admit(A, 'alice', 's2', c.now)).toBe('fresh');
    expect(guard.admit(B, 'alice', 's1', c.now)).toBe('fresh');
  });

  it(`refuses a signed time more than ${STREAM_REPLAY_WINDOW_MS / 60_000} minutes from the reader's clock, either way`, () => {
    const c = clock();
    const guard = new ReplayGuard({ now: () => c.now });
    expect(guard.admit(A, 'alice', 'old', c.now - STREAM_REPLAY_WINDOW_MS - 1)).toBe('outside_window');
    expect(guard.admit(A, 'alice', 'ahead', c.now + STREAM_REPLAY_WINDOW_MS + 1)).toBe('outside_window');
    expect(guard.admit(A, 'alice', 'edge', c.now - STREAM_REPLAY_WINDOW_MS)).toBe('fresh');
    // Once its time left the window, a remembered id is refused by its time, not by memory.
    c.tick(STREAM_REPLAY_WINDOW_MS + 1);
    expect(guard.admit(A, 'alice', 'edge', c.now - STREAM_REPLAY_WINDOW_MS - 1)).toBe('outside_window');
  });

  it(`keeps at most ${STREAM_IDS_PER_SENDER_MAX} ids per sender, refusing that sender's streams at or below what it forgot`, () => {
    const c = clock();
    const max = 8;
    const guard = new ReplayGuard({ now: () => c.now, idsPerSenderMax: max });
    for (let i = 0; i < max; i++) expect(guard.admit(A, 'alice', `s${i}`, c.now + i)).toBe('fresh');
    expect(guard.size(A, 'alice')).toBe(max);
    expect(guard.admit(A, 'alice', 's8', c.now + 8)).toBe('fresh');
    // Over the maximum: the older half went, and the floor rose to the newest time forgotten.
    expect(guard.size(A, 'alice')).toBeLessThanOrEqual(max / 2);
    expect(guard.admit(A, 'alice', 's0', c.now)).toBe('replayed');
    expect(guard.admit(A, 'alice', 'late-but-new', c.now + 1)).toBe('replayed');
    expect(guard.admit(A, 'alice', 's8', c.now + 8)).toBe('replayed');
    expect(guard.admit(A, 'alice', 's9', c.now + 9)).toBe('fresh');
    // Another sender's streams, as old, are not refused: the floor is alice's.
    expect(guard.admit(A, 'bob', 'b0', c.now)).toBe('fresh');
    // Ids whose time left the window go first, without raising the floor.
    const g2 = new ReplayGuard({ now: () => c.now, idsPerSenderMax: max });
    for (let i = 0; i < max; i++) g2.admit(A, 'alice', `old${i}`, c.now - STREAM_REPLAY_WINDOW_MS + 10);
    c.tick(20);
    expect(g2.admit(A, 'alice', 'new', c.now - 5)).toBe('fresh');
    expect(g2.size(A, 'alice')).toBe(1);
    expect(g2.admit(A, 'alice', 'other', c.now - 6)).toBe('fresh');
  });

  it('a member who floods a room with streams signed far ahead costs only its own streams', () => {
    const c = clock();
    const guard = new ReplayGuard({ now: () => c.now });
    // More streams than the room keeps, each signed just inside the window ahead: the room-wide floor
    // this used to raise refused every member's streams for ten minutes.
    const ahead = c.now + STREAM_REPLAY_WINDOW_MS - 1000;
    for (let i = 0; i <= STREAM_IDS_PER_ROOM_MAX; i++) guard.admit(A, 'mallory', `m${i}`, ahead);
    expect(guard.size(A)).toBeLessThanOrEqual(STREAM_IDS_PER_SENDER_MAX);
    expect(guard.admit(A, 'alice', 'a1', c.now)).toBe('fresh');
    expect(guard.admit(A, 'mallory', 'm-now', c.now)).toBe('replayed');
  });

  it(`keeps at most about ${STREAM_IDS_PER_ROOM_MAX} ids per room, shedding the sender with the most`, () => {
    const c = clock();
    const guard = new ReplayGuard({ now: () => c.now, idsPerSenderMax: 100, idsPerRoomMax: 200 });
    for (let i = 0; i < 60; i++) guard.admit(A, 'alice', `a${i}`, c.now + i);
    for (let s = 0; s < 3; s++) for (let i = 0; i < 50; i++) guard.admit(A, `sender${s}`, `x${s}-${i}`, c.now + i);
    // 60 + 150 = 210 > 200: alice, the largest, lost her older half; the others kept theirs.
    expect(guard.size(A)).toBeLessThanOrEqual(200);
    expect(guard.size(A, 'alice')).toBe(30);
    expect(guard.admit(A, 'sender0', 'x0-new', c.now)).toBe('fresh');
    expect(guard.admit(A, 'alice', 'a-late', c.now + 10)).toBe('replayed');
  });
});
