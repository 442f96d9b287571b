/** The call's pure decisions (tested in call-logic.test.ts): what to subscribe to, how loud to show. */
import type { StreamInfo, StreamTrackInfo } from 'sealroom/endpoint';

export const hasMedia = (tracks: readonly StreamTrackInfo[]): boolean => tracks.some((t) => t.kind === 'audio' || t.kind === 'video');

/** Streams of others with audio or video that this window has not subscribed to yet. */
export function streamsToSubscribe(streams: readonly StreamInfo[], ownStreamIds: ReadonlySet<string>, subscribed: ReadonlySet<string>): string[] {
  return streams.filter((s) => !ownStreamIds.has(s.streamId) && !subscribed.has(s.streamId) && hasMedia(s.tracks)).map((s) => s.streamId);
}

/**
 * Subscribes to `fresh` (marked in `subscribed` first), in one call; if that call fails (one stream
 * that ended meanwhile fails it whole, and a member can publish and unpublish in a loop), one stream
 * at a time, so the others are not lost. A stream whose own call fails is forgotten, so the next
 * listing tries it again. Returns the ones that failed.
 */
export async function subscribeEach(
  fresh: readonly string[],
  subscribed: Set<string>,
  subscribe: (streamIds: string[]) => Promise<unknown>,
): Promise<string[]> {
  for (const id of fresh) subscribed.add(id);
  try {
    await subscribe([...fresh]);
    return [];
  } catch {
    const failed: string[] = [];
    for (const id of fresh) {
      try {
        await subscribe([id]);
      } catch {
        subscribed.delete(id);
        failed.push(id);
      }
    }
    return failed;
  }
}

/** How many people other than this one publish audio or video in the room. */
export function peopleInCall(streams: readonly StreamInfo[], me: string): number {
  return new Set(streams.filter((s) => s.userId !== me && hasMedia(s.tracks)).map((s) => s.userId)).size;
}

/**
 * An audio level meter's fill, 0..100, from the Endpoint's moving RMS (0..1). Speech sits around
 * 0.01-0.2 RMS, so a square root spreads it over the meter (a quiet voice still moves it).
 */
export function levelPercent(emaRms: number): number {
  if (!Number.isFinite(emaRms) || emaRms <= 0) return 0;
  return Math.min(100, Math.round(Math.sqrt(Math.min(1, emaRms)) * 200));
}

/** The message for a device the browser would not give (getUserMedia's DOMException names). */
export function deviceProblem(error: unknown): string {
  const name = typeof error === 'object' && error !== null ? String((error as { name?: unknown }).name) : '';
  switch (name) {
    case 'NotAllowedError':
      return 'Camera and microphone access was refused. Allow it in the browser (the icon in the address bar) and try again.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No camera or microphone was found.';
    case 'NotReadableError':
      return 'The camera or microphone is in use by another program.';
    case 'AbortError':
      return 'Choosing what to share was cancelled.';
    default:
      return 'The camera, microphone or screen could not be opened.';
  }
}
