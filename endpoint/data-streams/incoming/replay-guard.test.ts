/** The memory of stream ids: refused when seen, or signed outside the window; bounded per room. */
import { describe, expect, it } from 'vitest';
import { ReplayGuard, STREAM_IDS_PER_ROOM_MAX, STREAM_REPLAY_WINDOW_MS } from './replay-guard.ts';

const A = 'room_aaaaaaaaaaaaaaaa';
const B = 'room_bbbbbbbbbbbbbbbb';

function clock(start = 1_700_000_000_000) {
  const c = { now: start, tick: (ms: number) => (c.now += ms) };
  return c;
}

describe('ReplayGuard', () => {
  it('admits a stream id once per room', () => {
    const c = clock();
    const guard = new ReplayGuard({ now: () => c.now });
    expect(guard.admit(A, 's1', c.now)).toBe('fresh');
    expect(guard.admit(A, 's1', c.now)).toBe('replayed');
    expect(guard.admit(A, 's2', c.now)).toBe('fresh');
    expect(guard.admit(B, 's1', c.now)).toBe('fresh');
  });

  it(`refuses a signed time more than ${STREAM_REPLAY_WINDOW_MS / 60_000} minutes from the reader's clock, either way`, () => {
    const c = clock();
    const guard = new ReplayGuard({ now: () => c.now });
    expect(guard.admit(A, 'old', c.now - STREAM_REPLAY_WINDOW_MS - 1)).toBe('outside_window');
    expect(guard.admit(A, 'ahead', c.now + STREAM_REPLAY_WINDOW_MS + 1)).toBe('outside_window');
    expect(guard.admit(A, 'edge', c.now - STREAM_REPLAY_WINDOW_MS)).toBe('fresh');
    // Once its time left the window, a remembered id is refused by its time, not by memory.
    c.tick(STREAM_REPLAY_WINDOW_MS + 1);
    expect(guard.admit(A, 'edge', c.now - STREAM_REPLAY_WINDOW_MS - 1)).toBe('outside_window');
  });

  it(`keeps at most ${STREAM_IDS_PER_ROOM_MAX} ids per room, refusing what is at or below what it forgot`, () => {
    const c = clock();
    const max = 8;
    const guard = new ReplayGuard({ now: () => c.now, idsPerRoomMax: max });
    for (let i = 0; i < max; i++) expect(guard.admit(A, `s${i}`, c.now + i)).toBe('fresh');
    expect(guard.size(A)).toBe(max);
    expect(guard.admit(A, 's8', c.now + 8)).toBe('fresh');
    // Over the maximum: the older half went, and the floor rose to the newest time forgotten.
    expect(guard.size(A)).toBeLessThanOrEqual(max / 2);
    expect(guard.admit(A, 's0', c.now)).toBe('replayed');
    expect(guard.admit(A, 'late-but-new', c.now + 1)).toBe('replayed');
    expect(guard.admit(A, 's8', c.now + 8)).toBe('replayed');
    expect(guard.admit(A, 's9', c.now + 9)).toBe('fresh');
    // Ids whose time left the window go first, without raising the floor.
    const g2 = new ReplayGuard({ now: () => c.now, idsPerRoomMax: max });
    for (let i = 0; i < max; i++) g2.admit(A, `old${i}`, c.now - STREAM_REPLAY_WINDOW_MS + 10);
    c.tick(20);
    expect(g2.admit(A, 'new', c.now - 5)).toBe('fresh');
    expect(g2.size(A)).toBe(1);
    expect(g2.admit(A, 'other', c.now - 6)).toBe('fresh');
  });
});
