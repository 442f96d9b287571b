/** The app's pure logic: connection states, room meta, formatting, input checks, the room log. */
import { describe, expect, it } from 'vitest';
import { connectionLabel, nextConnectionState, type ShownConnectionState } from './connection-state.ts';
import { FileMemory } from './file-memory.ts';
import { formatBytes, groupSafetyNumber, percent, shortKey, userIdProblem, visibleName } from './format.ts';
import { type FileItem, ROOM_LOG_MAX_ITEMS, RoomLog } from './room-log.ts';
import { decodePrivateMeta, encodePrivateMeta, ROOM_NAME_MAX_CHARS, roomNameProblem } from './room-meta.ts';

describe('connection state', () => {
  it('goes connecting -> connected -> reconnecting (counting attempts) -> reconnected -> connected', () => {
    let s: ShownConnectionState = { kind: 'connecting' };
    const seen: string[] = [connectionLabel(s)];
    for (const signal of [
      { type: 'signedIn' },
      { type: 'connectionLost' },
      { type: 'reconnecting', attempt: 0 },
      { type: 'reconnecting', attempt: 1 },
      { type: 'reconnected' },
      { type: 'settled' },
    ] as const) {
      s = nextConnectionState(s, signal);
      seen.push(connectionLabel(s));
    }
    expect(seen).toEqual(['Connecting…', 'Connected', 'Reconnecting…', 'Reconnecting…', 'Reconnecting… (attempt 2)', 'Reconnected', 'Connected']);
  });

  it('stays offline once closed for good, whatever else arrives', () => {
    let s = nextConnectionState({ kind: 'connected' }, { type: 'disconnected', reason: 'the session cannot be restored' });
    s = nextConnectionState(s, { type: 'connectionLost' });
    s = nextConnectionState(s, { type: 'reconnecting', attempt: 3 });
    s = nextConnectionState(s, { type: 'settled' });
    expect(s).toEqual({ kind: 'offline', reason: 'the session cannot be restored' });
  });
});

describe('room meta', () => {
  it('round-trips the name, and names a room of another client by the fallback', () => {
    expect(decodePrivateMeta(encodePrivateMeta({ name: 'standup' }), 'room')).toEqual({ name: 'standup' });
    expect(decodePrivateMeta(new TextEncoder().encode('agenda, not JSON'), 'room')).toEqual({ name: 'room' });
    expect(decodePrivateMeta(new TextEncoder().encode('{"name":"   "}'), 'room')).toEqual({ name: 'room' });
    expect(decodePrivateMeta(new TextEncoder().encode(JSON.stringify({ name: 'x'.repeat(500) })), 'room').name).toHaveLength(ROOM_NAME_MAX_CHARS);
  });

  it('checks names people type', () => {
    expect(roomNameProblem('  ')).toBe('Give the room a name.');
    expect(roomNameProblem('x'.repeat(ROOM_NAME_MAX_CHARS + 1))).toMatch(/at most 80/);
    expect(roomNameProblem('standup')).toBeUndefined();
  });
});

describe('formatting and input', () => {
  it('formats sizes, progress, keys and safety numbers', () => {
    expect([formatBytes(0), formatBytes(999), formatBytes(1500), formatBytes(3_145_851), formatBytes(-1)]).toEqual(['0 B', '999 B', '1.5 kB', '3.1 MB', '?']);
    expect([percent(undefined), percent(0.504), percent(2), percent(Number.NaN)]).toEqual([undefined, 50, 100, undefined]);
    expect(shortKey('srpk1qqqqqqqqqqqqqqqqqqqqqqqqqqqqwxyz')).toBe('srpk1qqqq…wxyz');
    const groups = groupSafetyNumber('0123456789'.repeat(6));
    expect(groups).toHaveLength(12);
    expect(groups.every((g) => g.length === 5)).toBe(true);
  });

  it('accepts readable user ids only', () => {
    expect(userIdProblem('alice')).toBeUndefined();
    expect(userIdProblem('bob.smith-2')).toBeUndefined();
    expect(userIdProblem('')).toBe('Pick a name.');
    expect(userIdProblem('-x')).toMatch(/starting with a letter or digit/);
    expect(userIdProblem('a b')).toMatch(/Use letters/);
    expect(userIdProblem('x'.repeat(33))).toMatch(/at most 32/);
  });
});

describe('room log', () => {
  it('keeps the newest items, updates transfers in place and tracks presence by any of its keys', () => {
    const log = new RoomLog();
    let changes = 0;
    let presence = 0;
    log.onChange(() => changes++);
    log.onPresence(() => presence++);
    log.add({ kind: 'file', id: 'f1', from: 'bob', mine: false, name: 'a.bin', size: 10, mimeType: '', at: 1, progress: 0, state: 'moving' });
    log.updateFile('f1', { progress: 0.5 });
    log.updateFile('nope', { progress: 1 });
    expect(log.items[0]).toMatchObject({ id: 'f1', progress: 0.5 });
    expect(changes).toBe(2);
    for (let i = 0; i < ROOM_LOG_MAX_ITEMS + 5; i++) log.notice(`n${i}`);
    expect(log.items).toHaveLength(ROOM_LOG_MAX_ITEMS);
    expect(log.items.some((i) => i.id === 'f1')).toBe(false);
    // A received file not saved yet outlives a flood of messages: the messages around it go first.
    const held: FileItem = { kind: 'file', id: 'f2', from: 'bob', mine: false, name: 'b.bin', size: 1, mimeType: '', at: 2, progress: 1, state: 'done' };
    held.blob = new Blob([new Uint8Array(1)]);
    log.add(held);
    for (let i = 0; i < ROOM_LOG_MAX_ITEMS * 2; i++) log.notice(`flood${i}`);
    expect(log.items).toHaveLength(ROOM_LOG_MAX_ITEMS);
    expect(log.items[0]).toBe(held);
    expect(held.blob).toBeDefined();
    // A log full of unsaved files still takes new items: past ROOM_LOG_HELD_FILES_MAX the oldest
    // files go (and give their bytes back), never the item just added.
    const files: FileItem[] = [];
    for (let i = 0; i < ROOM_LOG_MAX_ITEMS; i++) {
      const f: FileItem = { ...held, id: `g${i}` };
      f.blob = new Blob([new Uint8Array(1)]);
      files.push(log.add(f));
    }
    log.notice('after the files');
    expect(log.items.at(-1)).toMatchObject({ kind: 'notice', text: 'after the files' });
    expect(log.items).toHaveLength(ROOM_LOG_MAX_ITEMS);
    expect(held.blob).toBeUndefined();
    expect(files.at(-1)!.blob).toBeDefined();

    log.setPresent('bob', 'conn:1', true);
    log.setPresent('bob', 'stream:s1', true);
    log.setPresent('bob', 'conn:1', false);
    expect(log.isPresent('bob')).toBe(true);
    log.setPresent('bob', 'stream:s1', false);
    expect(log.isPresent('bob')).toBe(false);
    expect(presence).toBe(4);
  });
});

describe('received files in memory', () => {
  const file = (log: RoomLog, bytes: number): FileItem => {
    const item: FileItem = {
      kind: 'file',
      id: log.newId('in'),
      from: 'bob',
      mine: false,
      name: 'f',
      size: bytes,
      mimeType: '',
      at: 0,
      progress: 1,
      state: 'done',
    };
    item.blob = new Blob([new Uint8Array(bytes)]);
    return log.add(item);
  };

  it('bounds the bytes of files arriving at once: past it nothing more is taken, and what a file took is given back', () => {
    const memory = new FileMemory(100, 1000);
    expect(memory.take(60)).toBe(true);
    expect(memory.take(50)).toBe(false);
    expect(memory.arrivingBytes).toBe(60);
    memory.release(60);
    expect(memory.take(100)).toBe(true);
  });

  it('keeps received files up to its bound, letting the oldest go (never the newest) and marking them released', () => {
    const memory = new FileMemory(100, 250);
    const a = new RoomLog();
    const b = new RoomLog();
    const first = file(a, 100);
    memory.keep(first, a);
    const second = file(b, 100);
    memory.keep(second, b);
    expect([first.released, second.released]).toEqual([undefined, undefined]);
    const third = file(a, 100);
    memory.keep(third, a);
    expect(first).toMatchObject({ released: true, blob: undefined });
    expect(second.blob).toBeDefined();
    // One larger than the bound alone is still kept: the person can save it.
    const big = file(b, 400);
    memory.keep(big, b);
    expect([second.released, third.released, big.released]).toEqual([true, true, undefined]);
    expect(big.blob?.size).toBe(400);
  });
});

describe('names other members chose', () => {
  it('shows the characters that reorder text as their codes, and everything else as it is', () => {
    expect(visibleName('invoice\u202Efdp.exe')).toBe('invoice[U+202E]fdp.exe');
    expect(visibleName('a\u2066b\u2069\u200Fc\u061C')).toBe('a[U+2066]b[U+2069][U+200F]c[U+061C]');
    expect(visibleName('rapport été 2026 — 報告.pdf')).toBe('rapport été 2026 — 報告.pdf');
    // Zero-width and other invisible characters, controls and blank fillers show as their code too.
    expect(visibleName('alice\u200B')).toBe('alice[U+200B]');
    expect(visibleName('a\u00AD\u2060b\u3164c\u2800\u0007')).toBe('a[U+00AD][U+2060]b[U+3164]c[U+2800][U+0007]');
    expect(visibleName('\u{E0041}x')).toBe('[U+E0041]x');
    // Joiners stay: an emoji sequence and a Persian name are shown as they are.
    expect(visibleName('👩\u200D💻 می\u200Cخواهم')).toBe('👩\u200D💻 می\u200Cخواهم');
    // Elsewhere a joiner shows: "general" with one after it is not "general".
    expect(visibleName('general\u200D')).toBe('general[U+200D]');
    expect(visibleName('ali\u200Cce')).toBe('ali[U+200C]ce');
  });

  it('gives every item of a log an id of its own, whatever the stream ids the senders chose', () => {
    const log = new RoomLog();
    const ids = new Set([log.newId('in'), log.newId('in'), log.newId('out')]);
    log.notice('x');
    expect(ids.size).toBe(3);
    expect(ids.has(log.items[0]!.id)).toBe(false);
  });
});
