/**
 * Create or edit a room: its name (private meta, sealed), its members and its managers, chosen from
 * the context's users (`connection.getContextUsers`). The Endpoint checks every chosen key against
 * the key it pinned for that user before it wraps the room key to it (docs/security/key-trust.md).
 */
import type { StreamRoom, UserWithPubKey } from 'sealroom/endpoint';
import { h, replace } from '../dom.ts';
import { decodePrivateMeta, encodePrivateMeta, PUBLIC_META, roomNameProblem } from '../room-meta.ts';
import type { Session } from '../session.ts';
import { PersonError } from '../messages.ts';
import { busy, field } from '../ui.ts';

export interface RoomFormOptions {
  session: Session;
  contextId: string;
  /** The room to edit; a new room when undefined. */
  room?: StreamRoom;
  onDone(roomId: string): void;
  onCancel(): void;
}

export async function renderRoomForm(root: HTMLElement, options: RoomFormOptions): Promise<void> {
  const { session, contextId, room } = options;
  const me = session.identity.userId;
  const users = await session.connection.getContextUsers(contextId);
  const members = new Set(room?.users.map((u) => u.userId) ?? [me]);
  const managers = new Set(room?.managers.map((u) => u.userId) ?? [me]);
  // Users the room names who left the context stay listed, so an edit can keep or drop them.
  const known = new Map<string, UserWithPubKey>(users.map((u) => [u.userId, u]));
  for (const u of [...(room?.users ?? []), ...(room?.managers ?? [])]) if (!known.has(u.userId)) known.set(u.userId, u);

  const name = h('input', {
    type: 'text',
    testid: 'room-name',
    maxLength: 80,
    value: room === undefined ? '' : decodePrivateMeta(room.privateMeta, 'room').name,
    placeholder: 'standup',
  });
  const rows = [...known.values()]
    .sort((a, b) => (a.userId === me ? -1 : b.userId === me ? 1 : a.userId.localeCompare(b.userId)))
    .map((user) => {
      const member = h('input', { type: 'checkbox', checked: members.has(user.userId), testid: `member-${user.userId}` });
      const manager = h('input', { type: 'checkbox', checked: managers.has(user.userId), testid: `manager-${user.userId}` });
      member.onchange = () => {
        if (!member.checked) manager.checked = false;
      };
      manager.onchange = () => {
        if (manager.checked) member.checked = true;
      };
      return { user, member, manager };
    });
  const slot = h('div', { class: 'slot' });
  const save = h('button', { type: 'submit', class: 'primary', testid: 'save-room' }, room === undefined ? 'Create room' : 'Save changes');
  const cancel = h('button', { type: 'button' }, 'Cancel');
  cancel.onclick = () => options.onCancel();
  const form = h(
    'form',
    { class: 'card stack room-form', testid: 'room-form' },
    h('h2', null, room === undefined ? 'New room' : 'Edit room'),
    field('Name', name, 'Only members can read it: it is encrypted with the room key.'),
    h(
      'table',
      { class: 'members-table' },
      h('thead', null, h('tr', null, h('th', null, 'User'), h('th', null, 'Member'), h('th', null, 'Manager'))),
      h(
        'tbody',
        null,
        ...rows.map(({ user, member, manager }) =>
          h(
            'tr',
            null,
            h('td', null, user.userId, user.userId === me ? h('span', { class: 'badge' }, 'you') : null),
            h('td', null, member),
            h('td', null, manager),
          ),
        ),
      ),
    ),
    h('p', { class: 'hint' }, 'Managers can edit the room, rotate its key and delete it. Removing a member rotates the key.'),
    h('div', { class: 'row' }, save, cancel),
    slot,
  );
  form.onsubmit = (event) => {
    event.preventDefault();
    void busy(save, slot, async () => {
      const problem = roomNameProblem(name.value);
      if (problem !== undefined) throw new PersonError('INPUT', problem);
      const chosenUsers = rows.filter((r) => r.member.checked).map((r) => r.user);
      const chosenManagers = rows.filter((r) => r.manager.checked).map((r) => r.user);
      if (chosenManagers.length === 0) throw new PersonError('INPUT', 'A room needs at least one manager.');
      const privateMeta = encodePrivateMeta({ name: name.value.trim() });
      if (room === undefined) {
        const roomId = await session.streamApi.createStreamRoom(contextId, chosenUsers, chosenManagers, PUBLIC_META, privateMeta);
        options.onDone(roomId);
      } else {
        await session.streamApi.updateStreamRoom(room.streamRoomId, chosenUsers, chosenManagers, room.publicMeta, privateMeta, room.version, false, false);
        options.onDone(room.streamRoomId);
      }
    });
  };
  replace(root, form);
  name.focus();
}
