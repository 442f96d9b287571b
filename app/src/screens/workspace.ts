/**
 * The signed-in screen: a top bar (who, connection state, sign out), key-change warnings, the rooms
 * of the context in a sidebar (each with its verified version and key epoch, or its verification
 * error), and the main pane: a room, the room form, or a hint. Room events of the context keep the
 * list current (`subscribeFor` on the context).
 */
import type { KeyChangedEvent, StreamRoom } from 'sealroom/endpoint';
import { connectionLabel, type ShownConnectionState } from '../connection-state.ts';
import { h, replace } from '../dom.ts';
import { shortKey, visibleName } from '../format.ts';
import { statusMessage } from '../messages.ts';
import { decodePrivateMeta } from '../room-meta.ts';
import type { Session } from '../session.ts';
import { busy, errorBox } from '../ui.ts';
import { openRoomView, type RoomView } from './room.ts';
import { renderRoomForm } from './room-form.ts';
import { safetyPanel } from './safety.ts';

/** Rooms listed at most (newest changes first); the app has no paging yet. */
const ROOMS_LISTED = 100;

export interface WorkspaceOptions {
  session: Session;
  /** The context to show; the first of the user's when undefined. */
  contextId: string | undefined;
  contextName?: string;
  signOut(): void;
  /** The person picked another of their contexts (shown when they have several). */
  switchContext(contextId: string): void;
}

export interface Workspace {
  /**
   * Leaves the open room (and its call, which stops the camera and microphone), stops listening and
   * ends the context's event subscriptions.
   */
  close(): Promise<void>;
}

export async function renderWorkspace(root: HTMLElement, options: WorkspaceOptions): Promise<Workspace> {
  const { session } = options;
  const { streamApi, eventApi, connection } = session;
  const contextId = options.contextId ?? connection.contextIds[0];
  const statePill = h('span', { class: 'state', testid: 'connection-state' });
  const showState = (state: ShownConnectionState) => {
    statePill.textContent = connectionLabel(state);
    statePill.dataset.state = state.kind;
  };
  showState(session.state);
  const stops: (() => void)[] = [session.onState(showState)];
  const signOut = h('button', { type: 'button', class: 'small', testid: 'sign-out' }, 'Sign out');
  signOut.onclick = () => options.signOut();
  const topbar = h(
    'header',
    { class: 'topbar' },
    h('span', { class: 'brand' }, 'sealroom'),
    contextPicker(connection.contextIds, contextId, options),
    h('span', { class: 'spacer' }),
    statePill,
    h(
      'span',
      { class: 'me', testid: 'me', title: session.identity.publicKey },
      session.identity.userId,
      ' ',
      h('code', { class: 'muted' }, shortKey(session.identity.publicKey)),
    ),
    signOut,
  );
  const warnings = h('div', { class: 'warnings', testid: 'warnings' });
  const list = h('ul', { class: 'room-list', testid: 'room-list' });
  const listSlot = h('div', { class: 'slot' });
  const create = h('button', { type: 'button', class: 'primary', testid: 'new-room' }, '+ New room');
  const pane = h('main', { class: 'pane' });
  replace(
    root,
    topbar,
    warnings,
    h('div', { class: 'layout' }, h('aside', { class: 'sidebar' }, h('div', { class: 'sidebar-head' }, h('h2', null, 'Rooms'), create), list, listSlot), pane),
  );

  if (contextId === undefined) {
    replace(
      pane,
      h('div', { class: 'card' }, h('h2', null, 'No context yet'), h('p', null, 'This key is not a user of any context. Ask the operator to add it.')),
    );
    create.disabled = true;
    return {
      async close() {
        for (const stop of stops.splice(0)) stop();
      },
    };
  }

  let current: { roomId: string; view: RoomView } | undefined;
  const leaveCurrent = async () => {
    const was = current;
    current = undefined;
    await was?.view.close();
  };
  // What the pane shows changes by generation: a room still opening when the person moved on renders
  // into its own detached host and is left again at once.
  let generation = 0;
  const showHint = (message?: string) => {
    generation++;
    replace(
      pane,
      h(
        'div',
        { class: 'card hint-card', testid: 'pane-hint' },
        message === undefined ? null : h('p', { class: 'callout', testid: 'gone-message', attrs: { role: 'status' } }, message),
        h('h2', null, 'Pick a room, or make one'),
        h('p', { class: 'muted' }, 'Rooms, messages and files are end-to-end encrypted: the server stores and relays only ciphertext.'),
      ),
    );
  };

  const openRoom = async (roomId: string) => {
    const mine = ++generation;
    await leaveCurrent();
    markSelected(roomId);
    const host = h('div', { class: 'room-host' });
    replace(pane, host);
    const view = await openRoomView(host, {
      session,
      contextId,
      roomId,
      onEdit: (room) => void editRoom(room),
      onGone: (message) => {
        void leaveCurrent().then(() => {
          showHint(message);
          void refreshList();
        });
      },
    });
    if (mine !== generation) {
      await view.close();
      return;
    }
    current = { roomId, view };
  };
  const editRoom = async (room?: StreamRoom) => {
    generation++;
    await leaveCurrent();
    await renderRoomForm(pane, {
      session,
      contextId,
      ...(room === undefined ? {} : { room }),
      onDone: (roomId) => {
        void refreshList();
        void openRoom(roomId);
      },
      onCancel: () => (room === undefined ? showHint() : void openRoom(room.streamRoomId)),
    });
  };
  create.onclick = () => void editRoom();

  const markSelected = (roomId: string | undefined) => {
    for (const item of list.querySelectorAll<HTMLElement>('li')) item.classList.toggle('selected', item.dataset.roomId === roomId);
  };
  let listing = Promise.resolve();
  /** A refresh asked for while one waits is the same refresh: room events come as fast as the Bridge sends them. */
  let listingQueued = false;
  const refreshList = () => {
    if (listingQueued) return listing;
    listingQueued = true;
    return (listing = listing.then(async () => {
      listingQueued = false;
      try {
        const page = await streamApi.listStreamRooms(contextId, { skip: 0, limit: ROOMS_LISTED, sortOrder: 'desc', sortBy: 'lastModificationDate' });
        replace(list, ...page.readItems.map(roomItem));
        if (page.readItems.length === 0) replace(list, h('li', { class: 'muted empty' }, 'No rooms yet.'));
        markSelected(current?.roomId);
        listSlot.replaceChildren();
      } catch (error) {
        replace(listSlot, errorBox(error));
      }
    }));
  };
  const roomItem = (room: StreamRoom) => {
    if (room.statusCode !== 0) {
      // Verification failed: the error, no name, no data.
      return h(
        'li',
        { class: 'room-item failed', testid: 'room-item', dataset: { roomId: room.streamRoomId, status: String(room.statusCode) } },
        h('span', { class: 'name' }, '⚠ Unverifiable room'),
        h('span', { class: 'facts error-text' }, statusMessage(room.statusCode)),
      );
    }
    const name = decodePrivateMeta(room.privateMeta, 'room').name;
    const item = h(
      'li',
      { class: 'room-item', testid: 'room-item', dataset: { roomId: room.streamRoomId, name } },
      h('span', { class: 'name' }, visibleName(name)),
      h('span', { class: 'facts muted' }, `v${room.version} · epoch ${room.epoch} · ${room.users.length} member${room.users.length === 1 ? '' : 's'}`),
    );
    item.tabIndex = 0;
    item.onclick = () => void openRoom(room.streamRoomId);
    item.onkeydown = (e) => {
      if (e.key === 'Enter') void openRoom(room.streamRoomId);
    };
    return item;
  };

  // Key changes: a warning that stays until the person decides.
  const showKeyChange = (event: KeyChangedEvent) => {
    const id = `${event.contextId}/${event.userId}`;
    warnings.querySelector(`[data-key="${CSS.escape(id)}"]`)?.remove();
    const slot = h('div', { class: 'slot' });
    const accept = h('button', { type: 'button', class: 'small', testid: `accept-key-${event.userId}` }, 'Trust the new key');
    const compare = h('button', { type: 'button', class: 'small primary' }, 'Compare safety numbers');
    const box: HTMLElement = h(
      'div',
      { class: 'warning', testid: `key-changed-${event.userId}`, dataset: { key: id }, attrs: { role: 'alert' } },
      h('strong', null, `${event.userId}'s key changed.`),
      ' ',
      event.verified
        ? `You had verified ${event.userId}. Compare safety numbers again before anything is shared with the new key.`
        : `If ${event.userId} did not set up a new device or identity, someone may be trying to intercept. Nothing is shared with the new key until you decide.`,
      h('div', { class: 'row' }, compare, event.verified ? null : accept),
      slot,
    );
    accept.onclick = () =>
      void busy(accept, slot, async () => {
        await streamApi.acceptKeyChange(event.contextId, event.userId);
        box.remove();
        void refreshList();
      });
    compare.onclick = () => {
      compare.replaceWith(
        safetyPanel(session, event.contextId, event.userId, () => {
          box.remove();
          void refreshList();
        }),
      );
    };
    warnings.append(box);
  };
  stops.push(
    session.onKeyChanged(showKeyChange),
    eventApi.on('streamRoomCreated', () => void refreshList()),
    eventApi.on('streamRoomUpdated', () => void refreshList()),
    eventApi.on('streamRoomDeleted', (event) => {
      void refreshList();
      if (current?.roomId === event.streamRoomId) void leaveCurrent().then(() => showHint('That room was deleted.'));
    }),
  );
  const subscriptions = await eventApi.subscribeFor(
    (['streamRoomCreated', 'streamRoomUpdated', 'streamRoomDeleted'] as const).map((type) => eventApi.buildSubscriptionQuery(type, 'contextId', contextId)),
  );
  showHint();
  await refreshList();
  return {
    async close() {
      for (const stop of stops.splice(0)) stop();
      await leaveCurrent();
      await eventApi.unsubscribeFrom(subscriptions).catch(() => {}); // a closed connection has none left
    },
  };
}

/** The context's name in dev mode; otherwise its id, or a picker when the person has several. */
function contextPicker(contextIds: readonly string[], contextId: string | undefined, options: WorkspaceOptions): HTMLElement {
  if (options.contextName !== undefined || contextIds.length < 2) {
    return h('span', { class: 'context muted', testid: 'context' }, options.contextName ?? contextId ?? '');
  }
  const select = h(
    'select',
    { class: 'context', testid: 'context-picker', title: 'Context' },
    ...contextIds.map((id) => h('option', { value: id, selected: id === contextId }, id)),
  );
  select.onchange = () => options.switchContext(select.value);
  return select;
}
