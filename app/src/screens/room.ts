/**
 * A joined room: its verified version and key epoch, chat (text streams, topic `chat`), files (byte
 * streams, topic `files`) with progress bars on both sides, who is here, and each member's safety
 * number. A room that fails verification shows the error and nothing of its content. Presence: each
 * window publishes one data-track stream while it is in the room, so `listStreams` tells a newcomer
 * who is already here, and `streamPublished`/`streamUnpublished` keep it current.
 */
import type { StreamHandle, StreamRoom } from 'sealroom/endpoint';
import { append, h, replace } from '../dom.ts';
import { formatBytes, formatTime, percent, visibleName } from '../format.ts';
import { describeError, PersonError } from '../messages.ts';
import { decodePrivateMeta } from '../room-meta.ts';
import type { FileItem, LogItem } from '../room-log.ts';
import type { Session } from '../session.ts';
import { busy, errorBox, showError } from '../ui.ts';
import { createCall, type Call } from '../call/call.ts';
import { safetyPanel } from './safety.ts';

export interface RoomViewOptions {
  session: Session;
  contextId: string;
  roomId: string;
  onEdit(room: StreamRoom): void;
  /** The room is gone for this person (deleted, removed): back to the list, with a message. */
  onGone(message: string): void;
}

export interface RoomView {
  /** Leaves the room (unpublishes presence); the element is discarded. */
  close(): Promise<void>;
}

export async function openRoomView(root: HTMLElement, options: RoomViewOptions): Promise<RoomView> {
  const { session, roomId, contextId } = options;
  const { streamApi, eventApi } = session;
  const me = session.identity.userId;
  const log = session.log(roomId);
  const stops: (() => void)[] = [];
  let closed = false;
  let presence: StreamHandle | undefined;

  const header = h('div', { class: 'room-header' });
  const members = h('aside', { class: 'members', testid: 'members' });
  const logView = h('div', { class: 'log', testid: 'log', attrs: { 'aria-live': 'polite' } });
  const composerSlot = h('div', { class: 'slot' });
  const text = h('input', { type: 'text', placeholder: 'Write a message…', testid: 'message', maxLength: 4000, autocomplete: 'off' });
  const send = h('button', { type: 'submit', class: 'primary', testid: 'send' }, 'Send');
  const fileInput = h('input', { type: 'file', testid: 'file-input', class: 'visually-hidden', multiple: true });
  const attach = h('button', { type: 'button', testid: 'attach', title: 'Send a file' }, 'Send file');
  attach.onclick = () => fileInput.click();
  const composer = h('form', { class: 'composer' }, text, attach, send, fileInput);
  const callSlot = h('div', { class: 'call-slot' });
  const view = h(
    'section',
    { class: 'room', testid: 'room' },
    header,
    h('div', { class: 'room-body' }, h('div', { class: 'chat' }, callSlot, logView, composer, composerSlot), members),
  );
  let call: Call | undefined;
  let room: StreamRoom;
  try {
    room = await streamApi.getStreamRoom(roomId);
  } catch (error) {
    // Verification failed (or the room is gone): the error, never the data.
    replace(root, h('section', { class: 'room', testid: 'room-error' }, h('h2', null, 'This room cannot be shown'), errorBox(error)));
    return { close: async () => {} };
  }

  const renderHeader = () => {
    const isManager = room.managers.some((m) => m.userId === me);
    // Another member chose it: nothing in it reorders the page's own text (the confirm, the notice).
    const name = visibleName(decodePrivateMeta(room.privateMeta, 'room').name);
    const slot = h('div', { class: 'slot' });
    const edit = h('button', { type: 'button', testid: 'edit-room' }, 'Edit');
    edit.onclick = () => options.onEdit(room);
    const rotate = h('button', { type: 'button', testid: 'rotate-key' }, 'Rotate key');
    rotate.onclick = () =>
      void busy(rotate, slot, async () => {
        await streamApi.updateStreamRoom(roomId, room.users, room.managers, room.publicMeta, room.privateMeta, room.version, false, true);
        await refresh();
      });
    const remove = h('button', { type: 'button', class: 'danger', testid: 'delete-room' }, 'Delete');
    remove.onclick = () => {
      if (!confirm(`Delete "${name}" for everyone?`)) return;
      void busy(remove, slot, async () => {
        await streamApi.deleteStreamRoom(roomId);
        options.onGone(`"${name}" was deleted.`);
      });
    };
    replace(
      header,
      h(
        'div',
        { class: 'title' },
        h('h2', { testid: 'room-title' }, name),
        h(
          'p',
          { class: 'muted', testid: 'room-facts' },
          `version ${room.version} · key epoch ${room.epoch} · ${room.users.length} member${room.users.length === 1 ? '' : 's'} · verified`,
        ),
      ),
      isManager ? h('div', { class: 'actions' }, edit, rotate, remove) : null,
      slot,
    );
  };

  // Open safety panels survive re-renders (their number is computed once per opening).
  const openSafety = new Map<string, HTMLElement>();
  const renderMembers = () => {
    const managers = new Set(room.managers.map((m) => m.userId));
    replace(
      members,
      h('h3', null, 'Members'),
      h(
        'ul',
        null,
        ...room.users.map((user) => {
          const here = user.userId === me || log.isPresent(user.userId);
          const verified = session.verified.has(`${contextId}/${user.userId}`);
          const toggle = h('button', { type: 'button', class: 'link small', testid: `safety-toggle-${user.userId}` }, 'Safety number');
          toggle.onclick = () => {
            if (openSafety.has(user.userId)) openSafety.delete(user.userId);
            else {
              const closeOnVerified = () => {
                openSafety.delete(user.userId);
                renderMembers();
              };
              openSafety.set(user.userId, safetyPanel(session, contextId, user.userId, closeOnVerified));
            }
            renderMembers();
          };
          return h(
            'li',
            { testid: `member-row-${user.userId}` },
            h('span', { class: here ? 'dot on' : 'dot', title: here ? 'in the room' : 'not in the room' }),
            h('span', { class: 'who' }, user.userId),
            user.userId === me ? h('span', { class: 'badge' }, 'you') : null,
            managers.has(user.userId) ? h('span', { class: 'badge' }, 'manager') : null,
            verified ? h('span', { class: 'badge ok' }, '✓ verified') : null,
            user.userId === me ? null : toggle,
            openSafety.get(user.userId) ?? null,
          );
        }),
      ),
    );
  };

  // Keyed rendering: a transfer's progress updates its own row, not the whole log.
  const rows = new Map<string, HTMLElement>();
  const renderLog = () => {
    const alive = new Set(log.items.map((i) => i.id));
    for (const [id, row] of rows) {
      if (alive.has(id)) continue;
      row.remove();
      rows.delete(id);
    }
    const atBottom = logView.scrollHeight - logView.scrollTop - logView.clientHeight < 40;
    for (const item of log.items) {
      const existing = rows.get(item.id);
      if (existing === undefined) {
        const row = renderItem(item);
        rows.set(item.id, row);
        logView.append(row);
      } else if (item.kind === 'file' && existing.dataset.shown !== fileShown(item)) {
        const row = renderItem(item);
        existing.replaceWith(row);
        rows.set(item.id, row);
      }
    }
    if (log.items.length === 0) replace(logView, h('p', { class: 'muted empty' }, 'No messages yet. Everything here is end-to-end encrypted.'));
    else logView.querySelector('.empty')?.remove();
    if (atBottom) logView.scrollTop = logView.scrollHeight;
  };

  const refresh = async () => {
    room = await streamApi.getStreamRoom(roomId);
    renderHeader();
    renderMembers();
  };

  renderHeader();
  renderMembers();
  renderLog();
  replace(root, view);
  stops.push(log.onChange(renderLog), log.onPresence(renderMembers));

  composer.onsubmit = (event) => {
    event.preventDefault();
    const message = text.value.trim();
    if (message === '') return;
    void busy(send, composerSlot, async () => {
      await session.sendText(roomId, message);
      text.value = '';
      text.focus();
    });
  };
  fileInput.onchange = () => {
    const files = [...(fileInput.files ?? [])];
    fileInput.value = '';
    for (const file of files) {
      // A failure once sending started shows in the file's row; one before (too large) shows here.
      session.sendFile(roomId, file).catch((error: unknown) => {
        if (error instanceof PersonError) showError(composerSlot, error);
      });
    }
  };

  // Real-time: join, then publish presence and read who is here.
  stops.push(
    eventApi.on('streamRoomUpdated', (event) => {
      if (event.streamRoomId !== roomId) return;
      if (event.room === undefined) {
        log.notice(`A change to this room failed verification: ${describeError(event.error).message}`);
        return;
      }
      const rotated = event.room.epoch !== room.epoch;
      room = event.room;
      log.notice(rotated ? `The room key was rotated (epoch ${room.epoch}).` : `The room was changed (version ${room.version}).`);
      renderHeader();
      renderMembers();
    }),
    eventApi.on('streamRoomLeft', (event) => {
      if (event.streamRoomId !== roomId) return;
      if (event.userId === me && event.connectionId === session.connection.connectionId) {
        if (event.reason === 'removed') options.onGone('You were removed from that room.');
        else if (event.reason === 'room_deleted') options.onGone('That room was deleted.');
        else if (event.reason === 'disconnected') log.notice('Connection lost: rejoining when it is back…');
        return;
      }
      log.setPresent(event.userId, `conn:${event.connectionId}`, false);
    }),
    eventApi.on('streamRoomJoined', (event) => {
      if (event.streamRoomId === roomId && event.userId !== me) log.setPresent(event.userId, `conn:${event.connectionId}`, true);
    }),
    eventApi.on('streamPublished', (event) => {
      if (event.streamRoomId === roomId) log.setPresent(event.stream.userId, `stream:${event.stream.streamId}`, true);
    }),
    eventApi.on('streamUnpublished', (event) => {
      if (event.streamRoomId === roomId) log.setPresent(event.userId, `stream:${event.streamId}`, false);
    }),
    eventApi.on('streamRoomResumed', (event) => {
      if (event.streamRoomId !== roomId) return;
      if (event.status === 'restored') log.notice('Back in the room.');
      else options.onGone(`Could not rejoin the room: ${describeError(event.error).message}`);
    }),
  );
  try {
    await streamApi.joinStreamRoom(roomId);
    presence = await streamApi.createStream(roomId);
    await streamApi.addStreamTrack(presence, { createDataChannel: true });
    await streamApi.publishStream(presence);
    for (const stream of await streamApi.listStreams(roomId)) if (stream.userId !== me) log.setPresent(stream.userId, `stream:${stream.streamId}`, true);
    if (!closed) {
      call = createCall(session, roomId);
      callSlot.append(call.element);
    }
  } catch (error) {
    showError(composerSlot, error);
  }

  return {
    async close() {
      if (closed) return;
      closed = true;
      for (const stop of stops) stop();
      await call?.close();
      log.clearPresence();
      await streamApi.leaveStreamRoom(roomId).catch(() => {}); // unpublishes presence too
    },
  };
}

function renderItem(item: LogItem): HTMLElement {
  switch (item.kind) {
    case 'notice':
      return h('div', { class: 'notice', dataset: { id: item.id } }, item.text);
    case 'text':
      return h(
        'div',
        { class: item.mine ? 'msg mine' : 'msg', testid: 'chat-message', dataset: { id: item.id } },
        h('div', { class: 'meta' }, h('span', { class: 'from' }, item.from), h('span', { class: 'time' }, formatTime(item.at))),
        h('div', { class: 'text' }, item.text),
      );
    case 'file':
      return renderFile(item);
    default: {
      const never: never = item;
      return never;
    }
  }
}

/** What a file row shows; the row is rebuilt only when this changes. */
const fileShown = (item: FileItem): string => `${item.state}:${percent(item.progress) ?? '?'}${item.released === true ? ':released' : ''}`;

function renderFile(item: FileItem): HTMLElement {
  const pct = percent(item.progress);
  const bar = h('progress', { max: 100, testid: 'file-progress' });
  if (pct !== undefined) bar.value = pct;
  const status =
    item.state === 'failed'
      ? errorBox(item.error, 'file-error')
      : item.state === 'done'
        ? item.mine
          ? h('span', { class: 'ok' }, 'Sent')
          : item.released === true
            ? h(
                'span',
                { class: 'muted', testid: 'file-released' },
                'Received, verified; no longer held here (the page keeps 1 GiB of received files: save them soon after they arrive)',
              )
            : h('div', { class: 'row' }, h('span', { class: 'ok' }, 'Received, verified'), saveLink(item))
        : h('span', { class: 'muted' }, pct === undefined ? 'Receiving…' : `${pct}%`);
  const row = h(
    'div',
    { class: item.mine ? 'msg file mine' : 'msg file', testid: 'file-item', dataset: { id: item.id, state: item.state, shown: fileShown(item) } },
    h('div', { class: 'meta' }, h('span', { class: 'from' }, item.from), h('span', { class: 'time' }, formatTime(item.at))),
    h(
      'div',
      { class: 'file-name' },
      h('span', { class: 'file-icon' }, 'FILE'),
      visibleName(item.name),
      h('span', { class: 'muted' }, ` · ${item.size === undefined ? 'size unknown' : formatBytes(item.size)}`),
    ),
  );
  append(row, item.state === 'moving' ? bar : null, status);
  return row;
}

function saveLink(item: FileItem): HTMLElement {
  const link = h('a', { class: 'button small primary', testid: 'save-file', download: visibleName(item.name), href: '#' }, 'Save');
  // A blob: URL only while the person saves: created on click, revoked right after.
  link.onclick = () => {
    if (item.blob === undefined) return;
    const url = URL.createObjectURL(item.blob);
    link.href = url;
    link.type = item.blob.type; // the standard hint of the linked file's type: always bytes (session.ts)
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  };
  return link;
}
