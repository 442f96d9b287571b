/**
 * What a media test page gets (endpoint/media/media-browser.test.ts): the Endpoint, and a small kit
 * that publishes the fake camera and microphone, plays every remote video in a `<video>`, and reports
 * what the app would see (remote tracks, their end, publish states, media counters, audio levels).
 * Media is loopback only: the page offers 127.0.0.1 candidates and nothing else.
 */
import { type Connection, Endpoint, type StreamApi } from '../../endpoint/index.ts';
import { connectionInternals, streamApiInternals } from '../../endpoint/internal.ts';
import type { AudioLevelStats, MediaStats } from '../../endpoint/media/types.ts';

interface RemoteVideo {
  trackId: string;
  streamId: string;
  userId: string;
  kind: string;
  element: HTMLVideoElement | undefined;
  track: MediaStreamTrack;
  endedEvents: number;
  /** performance.now() when announced, and when its first video frame was shown (undefined: none yet). */
  announcedAt: number;
  firstFrameAt: number | undefined;
}

const remote: RemoteVideo[] = [];
const ended: Array<{ trackId: string; kind: string; readyState: string }> = [];
const states: string[] = [];
let api: StreamApi | undefined;
let conn: Connection | undefined;
const answered: number[] = [];
let handle: string | undefined;
const local = new Map<string, MediaStreamTrack>();
let levels: AudioLevelStats | undefined;

function streamApi(): StreamApi {
  if (api === undefined) throw new Error('connect first');
  return api;
}

/** A canvas that keeps drawing, as the screen-share path when getDisplayMedia has no screen. */
function canvasTrack(): MediaStreamTrack {
  const canvas = document.createElement('canvas');
  canvas.width = 320;
  canvas.height = 180;
  const g = canvas.getContext('2d')!;
  let n = 0;
  setInterval(() => {
    g.fillStyle = `hsl(${(n++ * 7) % 360} 60% 50%)`;
    g.fillRect(0, 0, canvas.width, canvas.height);
    g.fillStyle = '#fff';
    g.fillText(`screen ${n}`, 10, 20);
  }, 66);
  return canvas.captureStream(15).getVideoTracks()[0]!;
}

const kit = {
  async connect(a: { url: string; solutionId: string; privateKey: string; directCalls?: boolean }): Promise<void> {
    await Endpoint.setup();
    const say = (level: string) => (o: unknown, m?: string) => console.log(`${level} ${m ?? ''} ${JSON.stringify(o)}`);
    const logger = { debug: () => undefined, info: say('info'), warn: say('warn'), error: say('error') };
    const connection = await Endpoint.connect(a.privateKey, a.solutionId, a.url, {
      reconnectBaseDelayMs: 20,
      reconnectMaxDelayMs: 200,
      ...(a.directCalls === true ? { logger } : {}),
    });
    conn = connection;
    const eventApi = await Endpoint.createEventApi(connection);
    const loopback = (address: string) => address.startsWith('127.');
    api = await Endpoint.createStreamApi(connection, eventApi, {
      media: { allowCandidate: loopback, ...(a.directCalls === true ? { directCalls: true } : {}) },
      peers: { allowCandidate: loopback },
    });
  },

  async join(roomId: string): Promise<void> {
    await streamApi().joinStreamRoom(roomId);
    streamApi().addRemoteStreamListener({
      streamRoomId: roomId,
      onRemoteStreamTrack: (e) => {
        if (e.mediaTrack === undefined) return;
        const entry: RemoteVideo = {
          trackId: e.track.trackId,
          streamId: e.streamId,
          userId: e.userId,
          kind: e.track.kind,
          element: undefined,
          track: e.mediaTrack,
          endedEvents: 0,
          announcedAt: performance.now(),
          firstFrameAt: undefined,
        };
        e.mediaTrack.addEventListener('ended', () => entry.endedEvents++);
        if (e.track.kind === 'video') {
          const video = document.createElement('video');
          video.muted = true;
          video.autoplay = true;
          video.playsInline = true;
          video.srcObject = new MediaStream([e.mediaTrack]);
          document.body.append(video);
          video.play().catch(() => undefined);
          video.requestVideoFrameCallback(() => void (entry.firstFrameAt = performance.now()));
          entry.element = video;
        }
        remote.push(entry);
      },
      onRemoteStreamTrackEnded: (e) => ended.push({ trackId: e.track.trackId, kind: e.track.kind, readyState: e.mediaTrack?.readyState ?? 'none' }),
    });
  },

  /** Publishes the fake camera (320x240, 15 fps) and microphone; returns the track ids. */
  async publishCamera(roomId: string): Promise<{ video: string; audio: string }> {
    const media = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240, frameRate: 15 }, audio: true });
    handle = await streamApi().createStream(roomId);
    const video = await streamApi().addStreamTrack(handle, { track: media.getVideoTracks()[0]! });
    const audio = await streamApi().addStreamTrack(handle, { track: media.getAudioTracks()[0]! });
    local.set(video, media.getVideoTracks()[0]!);
    local.set(audio, media.getAudioTracks()[0]!);
    await streamApi().publishStream(handle, (state, error) => states.push(error === undefined ? state : `${state}:${error.reason}`));
    return { video, audio };
  },

  /** Bad input, refused with typed errors: returns each refusal's reason and message. */
  async misuse(roomId: string): Promise<Array<{ reason: string; message: string }>> {
    const out: Array<{ reason: string; message: string }> = [];
    const refusal = async (p: Promise<unknown>) => {
      try {
        await p;
        out.push({ reason: 'none', message: 'accepted' });
      } catch (error) {
        const e = error as { reason?: string; message: string };
        out.push({ reason: e.reason ?? 'untyped', message: e.message });
      }
    };
    const h = await streamApi().createStream(roomId);
    await refusal(streamApi().addStreamTrack(h, { track: { kind: 'video', id: 'not-a-real-track' } }));
    const stopped = canvasTrack();
    stopped.stop();
    await refusal(streamApi().addStreamTrack(h, { track: stopped }));
    await refusal(streamApi().addAudioLevelStatsListener('nope' as never));
    return out;
  },

  /**
   * Publishes a second stream with `count` more video tracks (clones of the camera): past the unit's
   * tracks-per-connection limit, the publish fails. Returns the states and the error.
   */
  async publishTooMany(roomId: string, count: number): Promise<{ states: string[]; reason: string; bridgeCode: string | undefined; streamId: string }> {
    const h = await streamApi().createStream(roomId);
    const camera = [...local.values()].find((t) => t.kind === 'video')!;
    for (let i = 0; i < count; i++) await streamApi().addStreamTrack(h, { track: camera.clone() });
    const seen: string[] = [];
    try {
      await streamApi().publishStream(h, (state, error) => seen.push(error === undefined ? state : `${state}:${error.reason}`));
    } catch (error) {
      const e = error as { reason: string; bridgeCode?: string };
      return { states: seen, reason: e.reason, bridgeCode: e.bridgeCode, streamId: h };
    }
    return { states: seen, reason: 'none', bridgeCode: undefined, streamId: h };
  },

  /** This page loses its encoded-transform APIs (RTCRtpScriptTransform, createEncodedStreams) before media starts. */
  disableFrameTransforms(): void {
    Reflect.deleteProperty(window, 'RTCRtpScriptTransform');
    Reflect.deleteProperty(RTCRtpSender.prototype, 'createEncodedStreams');
    Reflect.deleteProperty(RTCRtpReceiver.prototype, 'createEncodedStreams');
  },

  /** `publishCamera`, reporting its failure instead of throwing. */
  async tryPublishCamera(roomId: string): Promise<{ reason: string; message: string; states: string[] }> {
    try {
      await kit.publishCamera(roomId);
      return { reason: 'none', message: '', states: [...states] };
    } catch (error) {
      const e = error as { reason?: string; message: string };
      return { reason: e.reason ?? 'untyped', message: e.message, states: [...states] };
    }
  },

  /** Adds a screen share with updateStream: getDisplayMedia where headless Chromium gives one, else a canvas. */
  async shareScreen(): Promise<{ trackId: string; source: 'getDisplayMedia' | 'canvas' }> {
    let track: MediaStreamTrack;
    let source: 'getDisplayMedia' | 'canvas' = 'getDisplayMedia';
    try {
      track = (await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 15 } })).getVideoTracks()[0]!;
    } catch {
      track = canvasTrack();
      source = 'canvas';
    }
    const trackId = await streamApi().addStreamTrack(handle!, { track });
    local.set(trackId, track);
    await streamApi().updateStream(handle!);
    return { trackId, source };
  },

  /** The crafted wrong-key path: overwrites this client's copy of the room's current key with random bytes. */
  corruptRoomKey(roomId: string): number {
    const current = streamApiInternals(streamApi()).keys.current(roomId);
    if (current === undefined) throw new Error('no key to corrupt');
    crypto.getRandomValues(current.key);
    return current.epoch;
  },

  /** The next `mediaAnswer` is lost on the way: it seems sent, but the Bridge never gets it. */
  loseNextAnswer(): void {
    const connection = conn!;
    const request = connection.request.bind(connection);
    connection.request = ((kind: string, ...rest: unknown[]) => {
      if (kind !== 'mediaAnswer') return (request as (...a: unknown[]) => unknown)(kind, ...rest);
      connection.request = request;
      return Promise.resolve({});
    }) as typeof connection.request;
  },

  /**
   * Plays a Bridge that sends every media receive offer `times` times over: the copies come right
   * after the original, as one socket read would bring them. Returns nothing; `answeredRevisions`
   * tells what was answered.
   */
  repeatOffers(times: number): void {
    const { hooks } = connectionInternals(conn!);
    const emit = hooks.emit.bind(hooks);
    hooks.emit = ((type: string, event: { type?: string }, onError?: (error: unknown) => void) => {
      emit(type as never, event as never, onError);
      if (type !== 'media' || event.type !== 'mediaReceiveOffer') return;
      for (let i = 1; i < times; i++) emit(type as never, structuredClone(event) as never, onError);
    }) as typeof hooks.emit;
  },

  /** The revisions of the `mediaAnswer`s this connection sent, in order (recorded from the call on). */
  recordAnswers(): void {
    const connection = conn!;
    const request = connection.request.bind(connection);
    connection.request = ((kind: string, ...rest: unknown[]) => {
      if (kind === 'mediaAnswer') answered.push((rest[0] as { revision: number }).revision);
      return (request as (...a: unknown[]) => unknown)(kind, ...rest);
    }) as typeof connection.request;
  },

  answeredRevisions(): number[] {
    return [...answered];
  },

  async removeTrack(trackId: string): Promise<void> {
    await streamApi().removeStreamTrack(handle!, trackId);
    await streamApi().updateStream(handle!);
  },

  async leave(roomId: string): Promise<void> {
    await streamApi().leaveStreamRoom(roomId);
  },

  async unpublish(): Promise<void> {
    await streamApi().unpublishStream(handle!);
  },

  async subscribeAll(roomId: string): Promise<string[]> {
    const streams = await streamApi().listStreams(roomId);
    await streamApi().subscribeToRemoteStreams(
      roomId,
      streams.map((s) => ({ streamId: s.streamId })),
    );
    return streams.map((s) => s.streamId);
  },

  /** Subscribes to every stream in the room but this connection's own; returns their ids. */
  async subscribeOthers(roomId: string): Promise<string[]> {
    const streams = (await streamApi().listStreams(roomId)).filter((s) => s.userId !== conn?.userId);
    if (streams.length > 0)
      await streamApi().subscribeToRemoteStreams(
        roomId,
        streams.map((s) => ({ streamId: s.streamId })),
      );
    return streams.map((s) => s.streamId);
  },

  remote(): Array<{
    trackId: string;
    streamId: string;
    userId: string;
    kind: string;
    readyState: string;
    endedEvents: number;
    announcedAt: number;
    firstFrameAt: number | undefined;
    videoWidth: number;
    currentTime: number;
  }> {
    return remote.map((r) => ({
      trackId: r.trackId,
      streamId: r.streamId,
      userId: r.userId,
      kind: r.kind,
      readyState: r.track.readyState,
      endedEvents: r.endedEvents,
      announcedAt: r.announcedAt,
      firstFrameAt: r.firstFrameAt,
      videoWidth: r.element?.videoWidth ?? 0,
      currentTime: r.element?.currentTime ?? 0,
    }));
  },

  ended: () => [...ended],
  states: () => [...states],
  stats: (): Promise<MediaStats> => streamApi().mediaStats(),

  async listenLevels(): Promise<void> {
    await streamApi().addAudioLevelStatsListener((stats) => {
      levels = stats;
    });
  },
  levels: () => levels,
};

declare global {
  interface Window {
    mediaKit: typeof kit;
  }
}

window.mediaKit = kit;
