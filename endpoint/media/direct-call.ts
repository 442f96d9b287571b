/**
 * A room's two-person call over a direct peer connection (docs/media/direct-calls.md; opt-in,
 * `media.directCalls`). While the room has exactly two participants (this connection and one other
 * member's), the side that receives media calls the other (endpoint/peers: signed signalling, the
 * same SFrame keys); once connected, each side shares its published audio and video there and tells
 * the other which sealroom track each shared stream carries. A side that plays a direct track says so,
 * and the other then stops sending that track to the forwarding unit (its sender there keeps its
 * negotiated m-line, with no track: the unit's path stays warm). When a third participant joins (or
 * the peer closes), the unit's senders get their tracks back at once (the encoder starts with a
 * keyframe), the receivers announce the unit's tracks again, and the peer closes.
 */
import type { Logger } from '../logger.ts';
import type { RemotePeerRequest } from '../peers/peers-api.ts';
import type { IncomingDirectStream } from '../peers/direct-stream.ts';
import type { RemotePeer } from '../peers/remote-peer.ts';
import type { RemoteTrack } from '../realtime/joined-rooms.ts';
import type { LocalMediaTrackRef } from './local-tracks.ts';
import type { CallPeers } from './types.ts';

/** The `remotePeer` metadata of a call's connection (kept equal to peers-api.ts's CALL_METADATA). */
const CALL_METADATA = { sealroomCall: 1 };

export interface DirectCallDeps {
  roomId: string;
  userId: string;
  calls: CallPeers;
  /** The room's other connections (connectionId -> userId), or undefined when not joined. */
  participants(): ReadonlyMap<string, string> | undefined;
  /** Whether connection `connectionId` publishes audio or video in the room. */
  publishesMedia(connectionId: string): boolean;
  /** This connection receives media in the room (it subscribed to some). */
  receiving(): boolean;
  /** The subscribed remote track `streamId`/`trackId`, as the Bridge described it; undefined if not subscribed. */
  subscribed(streamId: string, trackId: string): RemoteTrack | undefined;
  localTracks(): LocalMediaTrackRef[];
  /** The unit's senders of these trackNos send nothing; the others send their tracks. */
  hold(trackNos: ReadonlySet<number>): void;
  /** A direct track replaces the unit's for the app. */
  direct(info: RemoteTrack, track: MediaStreamTrack): void;
  /** The direct tracks end; the unit's are announced again. */
  back(tracks: Array<{ info: RemoteTrack; track: MediaStreamTrack }>): void;
  log: Logger;
}

export class DirectCall {
  peer: RemotePeer | undefined;
  closed = false;
  #busy = false;
  /** Direct tracks announced to the app, by trackNo. */
  readonly #playing = new Map<number, { info: RemoteTrack; track: MediaStreamTrack }>();
  /** The other side's shared streams: MediaStream id -> sealroom stream and track ids. */
  #mapping = new Map<string, { streamId: string; trackId: string }>();
  /** Direct tracks whose mapping has not arrived, by MediaStream id. */
  readonly #unmapped = new Map<string, MediaStreamTrack>();
  /** This side's shared tracks: local trackId -> the stream shared for it. */
  readonly #shared = new Map<string, { stream: MediaStream; trackNo: number; streamId: string }>();
  #sent = '';
  /** The participant a call failed with (not called again). */
  #failedWith: string | undefined;
  /** The callee shares only after the caller's first message: before it, the caller may not yet know the signed fingerprints a renegotiation is checked against. */
  #mayShare = false;

  constructor(private readonly d: DirectCallDeps) {}

  /** The trackNos whose direct track the app has now. */
  isDirect(trackNo: number): boolean {
    return this.#playing.has(trackNo);
  }

  /** Something changed (participants, streams, subscriptions, local tracks): go direct, stay, or go back. */
  update(): void {
    if (this.closed) return;
    const other = this.#other();
    if (this.peer !== undefined) {
      if (other?.userId !== this.peer.id) this.#end('the room no longer has exactly two participants');
      else {
        void this.#share();
        for (const [msid, track] of [...this.#unmapped]) this.#track(track, { id: msid } as MediaStream);
      }
      return;
    }
    if (other === undefined || this.#failedWith === other.connectionId || this.#busy || this.d.userId > other.userId) return;
    // The smaller user id calls, once there is media to send or to receive; the other accepts.
    if (!(this.d.localTracks().length > 0 || (this.d.receiving() && this.d.publishesMedia(other.connectionId)))) return;
    this.#busy = true;
    this.d.calls.connectPeer(this.d.roomId, other.userId, CALL_METADATA).then(
      (peer) => {
        this.#busy = false;
        this.#adopt(peer);
      },
      (error: unknown) => {
        this.#busy = false;
        // Not tried again with this participant: the unit carries the call.
        this.#failedWith = other.connectionId;
        this.d.log.info({ roomId: this.d.roomId, error: String(error) }, 'a direct call did not connect; media stays on the forwarding unit');
      },
    );
  }

  /** The other participant calls (the smaller user id calls). */
  request(r: RemotePeerRequest): void {
    const other = this.#other();
    if (this.closed || other?.userId !== r.id || this.peer !== undefined || this.#busy || r.id > this.d.userId) return r.decline();
    this.#busy = true;
    r.accept().then(
      (peer) => {
        this.#busy = false;
        this.#adopt(peer);
      },
      (error: unknown) => {
        this.#busy = false;
        this.d.log.info({ roomId: this.d.roomId, error: String(error) }, 'an incoming direct call did not connect');
      },
    );
  }

  close(): void {
    if (this.closed) return;
    this.#end('the room was left');
    this.closed = true;
  }

  #other(): { connectionId: string; userId: string } | undefined {
    const p = this.d.participants();
    if (p === undefined || p.size !== 1) return undefined;
    const [connectionId, userId] = [...p][0]!;
    return userId === this.d.userId ? undefined : { connectionId, userId };
  }

  #adopt(peer: RemotePeer): void {
    if (this.closed || this.peer !== undefined || this.#other()?.userId !== peer.id) {
      peer.close();
      return;
    }
    this.peer = peer;
    this.#mayShare = peer.id > this.d.userId;
    peer.on('track', ({ track, stream }) => this.#track(track, stream));
    peer.on('stream', (s) => this.#message(s));
    peer.on('close', (error) => {
      if (this.peer === peer) this.#end(`the peer closed (${error.reason})`);
    });
    this.d.log.info({ roomId: this.d.roomId, userId: peer.id }, 'the call goes direct');
    void this.#share();
  }

  /** Shares the published tracks not shared yet and sends the mapping when it changed. */
  async #share(): Promise<void> {
    const peer = this.peer;
    if (peer === undefined || !this.#mayShare) return;
    const refs = this.d.localTracks();
    const wanted = new Set(refs.map((r) => r.trackId));
    for (const [trackId, s] of [...this.#shared]) {
      if (wanted.has(trackId)) continue;
      this.#shared.delete(trackId);
      peer.unshare(s.stream);
    }
    for (const ref of refs) {
      if (this.#shared.has(ref.trackId)) continue;
      const stream = new MediaStream([ref.track as MediaStreamTrack]);
      this.#shared.set(ref.trackId, { stream, trackNo: ref.trackNo, streamId: ref.streamId });
      await peer.share(stream);
    }
    const tracks = JSON.stringify([...this.#shared].map(([trackId, s]) => [s.stream.id, s.streamId, trackId]));
    if (tracks !== this.#sent && this.peer === peer) {
      this.#sent = tracks;
      this.#send(peer, { tracks });
    }
  }

  #send(peer: RemotePeer, info: Record<string, string>): void {
    peer.send(new Uint8Array(0), { info, receipts: false, name: 'call' }).then(undefined, (error: unknown) => {
      this.d.log.info({ roomId: this.d.roomId, error: String(error) }, 'a direct call message was not sent');
    });
  }

  /** A call message: the other side's mapping, or which of this side's tracks it plays direct. */
  #message(s: IncomingDirectStream): void {
    void s.readable.cancel().catch(() => undefined);
    const info = s.header?.attributes ?? {};
    if (!this.#mayShare) {
      this.#mayShare = true;
      void this.#share();
    }
    try {
      if (typeof info.tracks === 'string') {
        const list = JSON.parse(info.tracks) as Array<[string, string, string]>;
        this.#mapping = new Map(list.map(([msid, streamId, trackId]) => [String(msid), { streamId: String(streamId), trackId: String(trackId) }]));
        for (const [msid, track] of [...this.#unmapped]) this.#track(track, { id: msid } as MediaStream);
      }
      if (typeof info.playing === 'string') {
        const playing = new Set((JSON.parse(info.playing) as unknown[]).map(Number));
        const held = new Set([...this.#shared.values()].map((x) => x.trackNo).filter((n) => playing.has(n)));
        this.d.hold(held);
      }
    } catch (error) {
      this.d.log.warn({ roomId: this.d.roomId, error: String(error) }, 'a direct call message was malformed; ignored');
    }
  }

  #track(track: MediaStreamTrack, stream: MediaStream | undefined): void {
    if (stream === undefined || this.peer === undefined) return;
    const mapped = this.#mapping.get(stream.id);
    if (mapped === undefined) {
      this.#unmapped.set(stream.id, track);
      return;
    }
    const info = this.d.subscribed(mapped.streamId, mapped.trackId);
    // Not subscribed (yet): it waits, and plays once the subscription is there (update()).
    if (info === undefined) {
      this.#unmapped.set(stream.id, track);
      return;
    }
    this.#unmapped.delete(stream.id);
    if (this.#playing.has(info.trackNo)) return;
    this.#playing.set(info.trackNo, { info, track });
    this.d.direct(info, track);
    this.#send(this.peer, { playing: JSON.stringify([...this.#playing.keys()]) });
  }

  #end(why: string): void {
    const peer = this.peer;
    this.peer = undefined;
    this.#sent = '';
    this.#mapping = new Map();
    this.#unmapped.clear();
    this.#shared.clear();
    this.d.hold(new Set());
    const playing = [...this.#playing.values()];
    this.#playing.clear();
    if (playing.length > 0) this.d.back(playing);
    if (peer !== undefined) {
      this.d.log.info({ roomId: this.d.roomId, why }, 'the call moves to the forwarding unit');
      peer.close();
    }
  }
}
