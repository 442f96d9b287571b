/**
 * The room's call (docs/app.md, "Calls"): camera, microphone and screen share published through the
 * Bridge's forwarding unit with every frame encrypted in this browser (docs/media/endpoint-media.md),
 * a video grid of the others, mute and camera switches, and an audio-level meter per person computed
 * in this browser. Nothing is captured until the person presses "Join call"; joining also subscribes
 * to the others' audio and video (so sound plays after a click, as browsers require).
 */
import type { StreamHandle, StreamInfo } from 'sealroom/endpoint';
import { h, replace } from '../dom.ts';
import type { Session } from '../session.ts';
import { PersonError } from '../messages.ts';
import { errorBox } from '../ui.ts';
import { deviceProblem, hasMedia, levelPercent, peopleInCall, streamsToSubscribe, subscribeEach } from './call-logic.ts';

interface Tile {
  element: HTMLElement;
  meter: HTMLElement;
  streamId: string;
  /** The stream's camera (or placeholder) tile shows its audio level; a screen share's does not. */
  metered: boolean;
}

interface Local {
  handle: StreamHandle;
  streamId: string;
  media: MediaStream;
  screen: { track: MediaStreamTrack; trackId: string } | undefined;
}

export interface Call {
  readonly element: HTMLElement;
  close(): Promise<void>;
}

export function createCall(session: Session, roomId: string): Call {
  const { streamApi, eventApi } = session;
  const me = session.identity.userId;
  const status = h('span', { class: 'call-status muted', testid: 'call-status' });
  const controls = h('div', { class: 'call-controls' });
  const slot = h('div', { class: 'slot' });
  const grid = h('div', { class: 'call-grid', testid: 'call-grid' });
  const element = h('section', { class: 'call', testid: 'call' }, h('div', { class: 'call-bar' }, status, controls), slot, grid);
  // Remote tiles and audio are keyed by publisher, stream and track: a member picks its own track ids,
  // and one reusing another's (or `local`) would take over that person's tile.
  const remoteKey = (userId: string, streamId: string, trackId: string) => `remote:${userId}/${streamId}/${trackId}`;
  const tiles = new Map<string, Tile>(); // 'local', 'screen', remoteKey(...) of a video, or audio:<user>/<stream> for audio-only
  const audios = new Map<string, HTMLAudioElement>(); // remote audio tracks, by remoteKey(...)
  const subscribed = new Set<string>();
  const stops: (() => void)[] = [];
  let local: Local | undefined;
  let others: StreamInfo[] = [];
  let closed = false;
  let stopLevels: (() => void) | undefined;

  const fail = (error: unknown) => replace(slot, errorBox(error));
  const button = (label: string, testid: string, onclick: () => Promise<void>, extra = '') => {
    const b = h('button', { type: 'button', class: `small ${extra}`, testid }, label);
    b.onclick = async () => {
      b.disabled = true;
      slot.replaceChildren();
      try {
        await onclick();
      } catch (error) {
        fail(error);
      } finally {
        b.disabled = false;
        render();
      }
    };
    return b;
  };

  const render = () => {
    const count = peopleInCall(others, me);
    if (local === undefined) {
      status.textContent = count === 0 ? 'No one is in a call here.' : `${count} ${count === 1 ? 'person is' : 'people are'} in a call.`;
      replace(controls, button('Join call', 'join-call', join, 'primary'));
      return;
    }
    const audio = local.media.getAudioTracks()[0];
    const video = local.media.getVideoTracks()[0];
    status.textContent = `In the call${count > 0 ? ` with ${count} other${count === 1 ? '' : 's'}` : ''} · end-to-end encrypted`;
    replace(
      controls,
      audio === undefined
        ? null
        : button(audio.enabled ? 'Mute' : 'Unmute', 'toggle-mic', async () => void (audio.enabled = !audio.enabled), audio.enabled ? '' : 'off'),
      video === undefined
        ? null
        : button(video.enabled ? 'Camera off' : 'Camera on', 'toggle-camera', async () => void (video.enabled = !video.enabled), video.enabled ? '' : 'off'),
      local.screen === undefined ? button('Share screen', 'share-screen', shareScreen) : button('Stop sharing', 'stop-screen', stopScreen, 'off'),
      button('Leave call', 'leave-call', leave, 'danger'),
    );
    tiles.get('local')?.element.classList.toggle('camera-off', video === undefined || !video.enabled);
  };

  const addTile = (key: string, streamId: string, label: string, stream: MediaStream, mirrored: boolean, metered = true) => {
    tiles.get(key)?.element.remove();
    const video = h('video', { autoplay: true, playsInline: true, muted: true });
    video.srcObject = stream;
    if (mirrored) video.classList.add('mirrored');
    const meter = h('span', { class: 'meter-fill' });
    const tile = h(
      'figure',
      { class: 'tile', testid: `tile-${label}`, dataset: { streamId } },
      video,
      h('figcaption', null, label, metered ? h('span', { class: 'meter' }, meter) : null),
    );
    grid.append(tile);
    tiles.set(key, { element: tile, meter, streamId, metered });
  };
  const removeTile = (key: string) => {
    tiles.get(key)?.element.remove();
    tiles.delete(key);
  };

  async function getMedia(): Promise<MediaStream> {
    try {
      return await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 360 } });
    } catch (first) {
      try {
        return await navigator.mediaDevices.getUserMedia({ audio: true }); // no camera: audio only
      } catch {
        throw new PersonError('DEVICE', deviceProblem(first));
      }
    }
  }

  async function subscribeNew(streams: StreamInfo[]): Promise<void> {
    const ownIds = new Set(local === undefined ? [] : [local.streamId]);
    const fresh = streamsToSubscribe(streams, ownIds, subscribed);
    if (fresh.length === 0) return;
    await subscribeEach(fresh, subscribed, (ids) =>
      streamApi.subscribeToRemoteStreams(
        roomId,
        ids.map((streamId) => ({ streamId })),
      ),
    );
  }

  async function join(): Promise<void> {
    const media = await getMedia();
    try {
      const handle = await streamApi.createStream(roomId);
      for (const track of media.getTracks()) await streamApi.addStreamTrack(handle, { track });
      const published = await streamApi.publishStream(handle, (state, error) => {
        if (state === 'failed' && error !== undefined) fail(error);
        element.dataset.publish = state;
      });
      local = { handle, streamId: published.streamId, media, screen: undefined };
    } catch (error) {
      for (const track of media.getTracks()) track.stop();
      throw error;
    }
    addTile('local', local.streamId, `${me} (you)`, media, true);
    stops.push(
      streamApi.addRemoteStreamListener({
        streamRoomId: roomId,
        onRemoteStreamTrack: ({ mediaTrack, track, userId, streamId }) => {
          if (mediaTrack === undefined) return;
          const stream = new MediaStream([mediaTrack]);
          const key = remoteKey(userId, streamId, track.trackId);
          if (track.kind === 'video') {
            // The stream's first video (its camera) carries the meter; a second one (a screen) does not.
            const placeholder = `audio:${userId}/${streamId}`;
            const metered = ![...tiles.entries()].some(([k, t]) => k !== placeholder && t.streamId === streamId && t.metered);
            addTile(key, streamId, userId, stream, false, metered);
            removeTile(placeholder);
          } else {
            const audio = h('audio', { autoplay: true });
            audio.srcObject = stream;
            audios.get(key)?.remove();
            audios.set(key, audio);
            element.append(audio);
            // Someone without a camera still gets a tile, for the name and the meter.
            if (![...tiles.values()].some((t) => t.streamId === streamId)) addTile(`audio:${userId}/${streamId}`, streamId, userId, new MediaStream(), false);
          }
        },
        onRemoteStreamTrackEnded: ({ track, streamId, userId }) => {
          const key = remoteKey(userId, streamId, track.trackId);
          removeTile(key);
          audios.get(key)?.remove();
          audios.delete(key);
          if (track.kind === 'audio') removeTile(`audio:${userId}/${streamId}`);
        },
      }),
    );
    stopLevels = await streamApi.addAudioLevelStatsListener(({ levels }) => {
      for (const level of levels) {
        for (const tile of tiles.values()) {
          if (tile.streamId !== level.streamId || !tile.metered) continue;
          tile.meter.style.width = `${levelPercent(level.emaRms)}%`;
          tile.element.classList.toggle('speaking', level.active);
        }
      }
    });
    others = await streamApi.listStreams(roomId);
    await subscribeNew(others);
  }

  async function shareScreen(): Promise<void> {
    if (local === undefined) return;
    let display: MediaStream;
    try {
      display = await navigator.mediaDevices.getDisplayMedia({ video: true });
    } catch (error) {
      throw new PersonError('DEVICE', deviceProblem(error));
    }
    const [track] = display.getVideoTracks();
    if (track === undefined) return;
    const trackId = await streamApi.addStreamTrack(local.handle, { track });
    await streamApi.updateStream(local.handle);
    local.screen = { track, trackId };
    addTile('screen', local.streamId, `${me} (screen)`, display, false, false);
    // Stopped from the browser's own "Stop sharing" bar: take it out of the stream too.
    track.addEventListener('ended', () => void stopScreen().catch(fail).finally(render));
  }

  async function stopScreen(): Promise<void> {
    const screen = local?.screen;
    if (local === undefined || screen === undefined) return;
    local.screen = undefined;
    removeTile('screen');
    screen.track.stop();
    await streamApi.removeStreamTrack(local.handle, screen.trackId);
    await streamApi.updateStream(local.handle);
  }

  async function leave(): Promise<void> {
    const was = local;
    local = undefined;
    stopLevels?.();
    stopLevels = undefined;
    for (const stop of stops.splice(0)) stop();
    for (const key of [...tiles.keys()]) removeTile(key);
    for (const audio of audios.values()) audio.remove();
    audios.clear();
    if (was !== undefined) {
      for (const track of was.media.getTracks()) track.stop();
      was.screen?.track.stop();
      await streamApi.unpublishStream(was.handle).catch(() => {}); // a room already left has none
    }
    if (subscribed.size > 0 && !closed) {
      const ids = [...subscribed];
      subscribed.clear();
      await streamApi
        .unsubscribeFromRemoteStreams(
          roomId,
          ids.map((streamId) => ({ streamId })),
        )
        .catch(() => {});
    }
    subscribed.clear();
  }

  // Who is in a call, kept current while the room is open; joined windows subscribe to newcomers.
  const refreshOthers = async () => {
    others = await streamApi.listStreams(roomId);
    if (local !== undefined) await subscribeNew(others);
    render();
  };
  const onStreamChange = (streamRoomId: string, tracks: readonly { kind: string }[]) => {
    if (streamRoomId === roomId && (tracks.length === 0 || hasMedia(tracks as never))) void refreshOthers().catch(fail);
  };
  const roomStops = [
    eventApi.on('streamPublished', (e) => onStreamChange(e.streamRoomId, e.stream.tracks)),
    eventApi.on('streamUpdated', (e) => onStreamChange(e.streamRoomId, e.stream.tracks)),
    eventApi.on('streamUnpublished', (e) => onStreamChange(e.streamRoomId, [])),
  ];
  render();
  void refreshOthers().catch(() => {}); // before the room is joined, listStreams may refuse: the events will follow

  return {
    element,
    async close() {
      if (closed) return;
      for (const stop of roomStops) stop();
      await leave();
      closed = true;
    },
  };
}
