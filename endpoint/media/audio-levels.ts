/**
 * Audio levels computed by this client (docs/media/endpoint-media.md, "Audio levels"): WebAudio
 * analysers on the local microphone tracks it publishes and on the decrypted remote audio tracks it
 * receives. The forwarding unit never sees a level: the RTP audio-level extension is not negotiated.
 * Meters run only while the app listens.
 */
import type { Logger } from '../logger.ts';
import type { AudioLevelStatsListener, StreamAudioLevel } from './types.ts';

/** How often levels are computed and reported. Ms. */
export const AUDIO_LEVEL_INTERVAL_MS = 100;
/** Weight of the newest RMS in the moving average. */
const EMA_ALPHA = 0.3;
/** An RMS this many times the noise floor (and above MIN_ACTIVE_RMS) counts as speech. */
const ACTIVE_OVER_FLOOR = 3;
const MIN_ACTIVE_RMS = 0.01;
/** Speech stays `active` this long after the level falls (short pauses between words). Ms. */
const HANGOVER_MS = 400;

export interface AudioSource {
  streamRoomId: string;
  streamId: string;
  userId: string;
  local: boolean;
}

interface Meter {
  source: AudioSource;
  node: MediaStreamAudioSourceNode;
  analyser: AnalyserNode;
  samples: Float32Array<ArrayBuffer>;
  /** Chromium feeds remote WebRTC audio into WebAudio only while a media element plays it. */
  sink: HTMLAudioElement | undefined;
  emaRms: number;
  noiseFloor: number;
  activeSince: number | undefined;
  lastAboveThresholdTs: number | undefined;
}

export class AudioLevels {
  readonly #tracks = new Map<MediaStreamTrack, AudioSource>();
  readonly #meters = new Map<MediaStreamTrack, Meter>();
  readonly #listeners = new Set<AudioLevelStatsListener>();
  #context: AudioContext | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly log: Logger) {}

  /** An audio track to meter (local published or remote decrypted). */
  add(track: MediaStreamTrack, source: AudioSource): void {
    if (track.kind !== 'audio') return;
    this.#tracks.set(track, source);
    if (this.#listeners.size > 0) this.#meter(track, source);
  }

  remove(track: MediaStreamTrack): void {
    this.#tracks.delete(track);
    this.#unmeter(track);
  }

  /** Local tracks of a room: replaces the ones metered before. */
  setLocal(roomId: string, tracks: Array<{ track: MediaStreamTrack; source: AudioSource }>): void {
    for (const [track, source] of [...this.#tracks]) if (source.local && source.streamRoomId === roomId) this.remove(track);
    for (const t of tracks) this.add(t.track, t.source);
  }

  listen(listener: AudioLevelStatsListener): () => void {
    this.#listeners.add(listener);
    if (this.#timer === undefined) {
      for (const [track, source] of this.#tracks) this.#meter(track, source);
      this.#timer = setInterval(() => this.#tick(), AUDIO_LEVEL_INTERVAL_MS);
    }
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size > 0) return;
      clearInterval(this.#timer);
      this.#timer = undefined;
      for (const track of [...this.#meters.keys()]) this.#unmeter(track);
    };
  }

  #meter(track: MediaStreamTrack, source: AudioSource): void {
    if (this.#meters.has(track) || track.readyState === 'ended') return;
    const context = (this.#context ??= new AudioContext());
    // Suspended until a user gesture under the autoplay policy; resumes when the page allows it.
    if (context.state === 'suspended') context.resume().catch(() => undefined);
    const stream = new MediaStream([track]);
    let sink: HTMLAudioElement | undefined;
    if (!source.local && typeof Audio !== 'undefined') {
      sink = new Audio();
      sink.muted = true;
      sink.srcObject = stream;
      sink.play().catch(() => undefined);
    }
    const node = context.createMediaStreamSource(stream);
    const analyser = context.createAnalyser();
    // About one interval of samples (4,096 at 48 kHz is 85 ms), so a short sound between two reads is not missed.
    analyser.fftSize = 4096;
    node.connect(analyser);
    this.#meters.set(track, {
      source,
      node,
      analyser,
      samples: new Float32Array(analyser.fftSize),
      sink,
      emaRms: 0,
      noiseFloor: MIN_ACTIVE_RMS / ACTIVE_OVER_FLOOR,
      activeSince: undefined,
      lastAboveThresholdTs: undefined,
    });
  }

  #unmeter(track: MediaStreamTrack): void {
    const meter = this.#meters.get(track);
    if (meter === undefined) return;
    this.#meters.delete(track);
    meter.node.disconnect();
    if (meter.sink !== undefined) meter.sink.srcObject = null;
  }

  #tick(): void {
    const now = Date.now();
    const levels: StreamAudioLevel[] = [];
    for (const [track, m] of this.#meters) {
      if (track.readyState === 'ended') {
        this.remove(track);
        continue;
      }
      m.analyser.getFloatTimeDomainData(m.samples);
      let sum = 0;
      for (const x of m.samples) sum += x * x;
      const rms = Math.sqrt(sum / m.samples.length);
      m.emaRms = m.emaRms + EMA_ALPHA * (rms - m.emaRms);
      // The floor follows quiet quickly and loud slowly, so speech does not raise it much.
      m.noiseFloor += (m.emaRms < m.noiseFloor ? 0.2 : 0.002) * (m.emaRms - m.noiseFloor);
      const threshold = Math.max(MIN_ACTIVE_RMS, m.noiseFloor * ACTIVE_OVER_FLOOR);
      if (m.emaRms > threshold) m.lastAboveThresholdTs = now;
      const active = m.lastAboveThresholdTs !== undefined && now - m.lastAboveThresholdTs <= HANGOVER_MS;
      if (active) m.activeSince ??= now;
      else m.activeSince = undefined;
      levels.push({
        ...m.source,
        emaRms: m.emaRms,
        noiseFloor: m.noiseFloor,
        active,
        activeSince: m.activeSince,
        lastAboveThresholdTs: m.lastAboveThresholdTs,
      });
    }
    for (const listener of [...this.#listeners]) {
      try {
        listener({ levels: levels.map((l) => ({ ...l })) });
      } catch (error) {
        this.log.error({ error: String(error) }, 'an audio level listener threw');
      }
    }
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#listeners.clear();
    for (const track of [...this.#meters.keys()]) this.#unmeter(track);
    this.#tracks.clear();
    this.#context?.close().catch(() => undefined);
    this.#context = undefined;
  }
}
