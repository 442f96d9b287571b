/**
 * What the app keeps in a room's meta (docs/app.md). The name is private: it lives in the private
 * meta, sealed under the room key, so the Bridge never sees it. The public meta only marks the room
 * as the web app's (`{"app":"sealroom"}`), which listings could filter on.
 */
export const PUBLIC_META = new TextEncoder().encode(JSON.stringify({ app: 'sealroom' }));
/** Longest room name, in characters. */
export const ROOM_NAME_MAX_CHARS = 80;

export interface RoomPrivateMeta {
  name: string;
}

export function encodePrivateMeta(meta: RoomPrivateMeta): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ name: meta.name }));
}

/** Reads a room's private meta; a room made by another client (not JSON, no name) gets a fallback name. */
export function decodePrivateMeta(bytes: Uint8Array, fallbackName: string): RoomPrivateMeta {
  try {
    const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
    if (typeof value === 'object' && value !== null && typeof (value as { name?: unknown }).name === 'string') {
      const name = (value as { name: string }).name.trim().slice(0, ROOM_NAME_MAX_CHARS);
      if (name !== '') return { name };
    }
  } catch {
    // not the app's format: fall through to the fallback
  }
  return { name: fallbackName };
}

/** A problem with a room name typed by a person, or undefined when it is fine. */
export function roomNameProblem(name: string): string | undefined {
  const trimmed = name.trim();
  if (trimmed === '') return 'Give the room a name.';
  if (trimmed.length > ROOM_NAME_MAX_CHARS) return `A room name has at most ${ROOM_NAME_MAX_CHARS} characters.`;
  return undefined;
}
