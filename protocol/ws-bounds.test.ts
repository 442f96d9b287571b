/**
 * What the Endpoint takes from a Bridge's WebSocket messages is bounded in the schema, so a message out
 * of bounds is dropped before any work (docs/operations/limits.md, "What the Endpoint reads").
 */
import { describe, expect, it } from 'vitest';
import { MEDIA_RECEIVE_SDP_MAX_BYTES, MEDIA_RECEIVE_TRACKS_MAX, serverMessageSchema } from './ws.ts';

const ROOM = 'AAAAAAAAAAAAAAAAAAAAAA';
const STREAM = 'BBBBBBBBBBBBBBBBBBBBBB';
const track = (i: number) => ({ mid: String(i), trackNo: i, kind: 'video', streamId: STREAM, trackId: `t${i}`, userId: 'alice' });
const offer = (fields: Record<string, unknown> = {}) => ({
  kind: 'media',
  event: { type: 'mediaReceiveOffer', roomId: ROOM, revision: 1, sdp: 'v=0\r\n', tracks: [track(0)], ...fields },
});
const published = (tracks: number, connectionId = 'conn_abcdefghijklmnop') => ({
  kind: 'event',
  event: {
    type: 'streamPublished',
    stream: {
      roomId: ROOM,
      streamId: STREAM,
      userId: 'alice',
      connectionId,
      tracks: Array.from({ length: tracks }, (_, i) => ({ trackId: `t${i}`, kind: 'data', trackNo: i })),
    },
  },
});
const ok = (message: unknown) => serverMessageSchema.safeParse(message).success;

describe('server messages out of bounds', () => {
  it('a receive offer: within bounds taken; too many tracks, too long an SDP or a mid of another shape dropped', () => {
    expect(ok(offer())).toBe(true);
    expect(ok(offer({ tracks: Array.from({ length: MEDIA_RECEIVE_TRACKS_MAX }, (_, i) => track(i)) }))).toBe(true);
    expect(ok(offer({ tracks: Array.from({ length: MEDIA_RECEIVE_TRACKS_MAX + 1 }, (_, i) => track(i)) }))).toBe(false);
    expect(ok(offer({ sdp: 'a'.repeat(MEDIA_RECEIVE_SDP_MAX_BYTES + 1) }))).toBe(false);
    expect(ok(offer({ tracks: [{ ...track(0), mid: 'x'.repeat(33) }] }))).toBe(false);
  });

  it('a published stream: at most 32 tracks, and a connection id of the Bridge own shape', () => {
    expect(ok(published(32))).toBe(true);
    expect(ok(published(33))).toBe(false);
    expect(ok(published(1, 'x'.repeat(65)))).toBe(false);
    expect(ok(published(1, 'conn with spaces'))).toBe(false);
  });
});
