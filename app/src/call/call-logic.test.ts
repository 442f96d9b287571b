/** The call's decisions: whom to subscribe to, who counts as in the call, the meter, device errors. */
import { describe, expect, it } from 'vitest';
import type { StreamInfo } from 'sealroom/endpoint';
import { deviceProblem, levelPercent, peopleInCall, streamsToSubscribe, subscribeEach } from './call-logic.ts';

const stream = (streamId: string, userId: string, kinds: ('audio' | 'video' | 'data')[]): StreamInfo => ({
  streamRoomId: 'r',
  streamId,
  userId,
  tracks: kinds.map((kind, i) => ({ trackId: `${streamId}-${i}`, kind })),
});

describe('the call', () => {
  const streams = [
    stream('mine', 'alice', ['audio', 'video']),
    stream('presence-bob', 'bob', ['data']),
    stream('cam-bob', 'bob', ['audio', 'video']),
    stream('cam-bob-2', 'bob', ['video']),
    stream('mic-carol', 'carol', ['audio']),
  ];

  it('subscribes to others audio and video once, never to its own stream or data-only ones', () => {
    expect(streamsToSubscribe(streams, new Set(['mine']), new Set())).toEqual(['cam-bob', 'cam-bob-2', 'mic-carol']);
    expect(streamsToSubscribe(streams, new Set(['mine']), new Set(['cam-bob', 'mic-carol']))).toEqual(['cam-bob-2']);
  });

  it('counts people, not streams', () => {
    expect(peopleInCall(streams, 'alice')).toBe(2);
    expect(peopleInCall(streams, 'bob')).toBe(2);
    expect(peopleInCall([stream('p', 'bob', ['data'])], 'alice')).toBe(0);
  });

  it('shows quiet speech on the meter and clamps loud and broken values', () => {
    expect(levelPercent(0)).toBe(0);
    expect(levelPercent(Number.NaN)).toBe(0);
    expect(levelPercent(0.01)).toBe(20);
    expect(levelPercent(0.5)).toBe(100);
    expect(levelPercent(7)).toBe(100);
  });

  it('explains refused devices', () => {
    expect(deviceProblem(new DOMException('x', 'NotAllowedError'))).toMatch(/refused/);
    expect(deviceProblem(new DOMException('x', 'NotFoundError'))).toMatch(/No camera/);
    expect(deviceProblem(new Error('?'))).toMatch(/could not be opened/);
  });

  it('subscribes to the others one by one when a stream that ended fails the call, and tries the failed one again later', async () => {
    // The Endpoint's subscribe fails whole for a stream that is gone (STREAM_NOT_FOUND).
    const live = new Set(['a', 'c']);
    const calls: string[][] = [];
    const subscribe = async (ids: string[]) => {
      calls.push(ids);
      if (ids.some((id) => !live.has(id))) throw new Error('STREAM_NOT_FOUND');
    };
    const subscribed = new Set<string>();
    expect(await subscribeEach(['a', 'gone', 'c'], subscribed, subscribe)).toEqual(['gone']);
    expect(calls).toEqual([['a', 'gone', 'c'], ['a'], ['gone'], ['c']]);
    // Before, all three stayed marked subscribed after the one failure, and a and c were never asked for.
    expect([...subscribed].sort()).toEqual(['a', 'c']);
  });
});
