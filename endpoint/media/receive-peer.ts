/**
 * The receive transport of one room: the unit offers (`mediaReceiveOffer`, one m-line per subscribed
 * audio or video track), this client answers (`mediaAnswer` with the offer's revision). Offers are
 * applied one at a time, in order (a newer one replaces one still waiting; one not newer than the last
 * taken is ignored). Each new receiver gets the decrypting transform before its
 * frames can flow; its track is announced to the app once the answer is accepted, and ended when a
 * later offer no longer lists it.
 */
import type { MediaReceiveTrack } from '../../protocol/ws.ts';
import type { RemoteTrack } from '../realtime/joined-rooms.ts';
import { MediaPeer, type PeerDeps } from './peer.ts';
import { filterCandidates, filterUnitCandidates, hideAudioLevels, restrictCodecs } from './sdp.ts';

export interface ReceivedTrack {
  info: RemoteTrack;
  receiver: RTCRtpReceiver;
  /** Announced to the app (after the answer was accepted). */
  announced: boolean;
}

export interface ReceiveDeps extends PeerDeps {
  trackAdded(track: ReceivedTrack): void;
  trackEnded(track: ReceivedTrack): void;
}

interface Offer {
  revision: number;
  sdp: string;
  tracks: MediaReceiveTrack[];
}

export class ReceivePeer extends MediaPeer {
  /** By mid. */
  readonly tracks = new Map<string, ReceivedTrack>();
  /** The offer being applied, if any. */
  #applying: Promise<void> | undefined;
  /**
   * The offer that waits for it. The unit sends one offer at a time and waits for its answer
   * (bridge/media/receive-transport.ts), so a newer offer replaces a waiting one: only the newest is
   * worth answering, and what a Bridge can queue here stays one offer.
   */
  #waiting: Offer | undefined;
  /** The revision of the newest offer taken (applied, being applied or waiting); revisions only grow. */
  #newest = 0;

  constructor(private readonly r: ReceiveDeps) {
    super(r, 'receive');
  }

  /** Applies the unit's offer once the one being applied is done (a newer one replaces it if it still waits). */
  offer(offer: Offer): void {
    if (offer.revision <= this.#newest) {
      this.r.connection.log.warn(
        { roomId: this.r.roomId, revision: offer.revision, newest: this.#newest },
        'a media receive offer not newer than the last was ignored',
      );
      return;
    }
    this.#newest = offer.revision;
    if (this.#waiting !== undefined) {
      this.r.connection.log.warn(
        { roomId: this.r.roomId, revision: this.#waiting.revision, newer: offer.revision },
        'a media receive offer was replaced before its turn',
      );
    }
    this.#waiting = offer;
    this.#applying ??= this.#applyWaiting();
  }

  async #applyWaiting(): Promise<void> {
    for (let offer = this.#waiting; offer !== undefined; offer = this.#waiting) {
      this.#waiting = undefined;
      try {
        await this.#apply(offer);
      } catch (error) {
        if (this.closed) break;
        this.r.connection.log.warn({ roomId: this.r.roomId, revision: offer.revision, error: String(error) }, 'a media receive offer could not be answered');
        // The unit closes a transport whose offer stays unanswered (mediaClosed timeout); restart now.
        this.r.failed('receive');
      }
    }
    this.#applying = undefined;
  }

  async #apply(offer: Offer): Promise<void> {
    if (this.closed) return;
    await this.pc.setRemoteDescription({ type: 'offer', sdp: filterCandidates(offer.sdp, this.r.allowCandidate) });
    if (this.closed) return;
    const byMid = new Map(offer.tracks.map((t) => [t.mid, t]));
    const added: ReceivedTrack[] = [];
    for (const transceiver of this.pc.getTransceivers()) {
      const mid = transceiver.mid;
      const t = mid === null ? undefined : byMid.get(mid);
      if (mid === null || t === undefined || transceiver.currentDirection === 'stopped') continue;
      const known = this.tracks.get(mid);
      if (known !== undefined && known.receiver === transceiver.receiver && known.info.trackNo === t.trackNo) continue;
      if (known !== undefined) this.#end(mid, known);
      restrictCodecs(transceiver, t.kind);
      hideAudioLevels(transceiver);
      const info: RemoteTrack = { roomId: this.r.roomId, streamId: t.streamId, trackId: t.trackId, kind: t.kind, trackNo: t.trackNo, userId: t.userId };
      try {
        this.r.e2ee.protectReceiver(transceiver.receiver, {
          roomId: info.roomId,
          streamId: info.streamId,
          trackId: info.trackId,
          kind: t.kind,
          userId: info.userId,
        });
      } catch (error) {
        // Never decode what was not decrypted: this m-line is rejected in the answer, the others go on.
        this.r.connection.log.warn(
          { roomId: info.roomId, trackId: info.trackId, error: String(error) },
          'a media receiver could not be protected; its track is refused',
        );
        transceiver.stop();
        continue;
      }
      const track: ReceivedTrack = { info, receiver: transceiver.receiver, announced: false };
      this.tracks.set(mid, track);
      added.push(track);
    }
    for (const [mid, track] of [...this.tracks]) if (byMid.get(mid)?.trackNo !== track.info.trackNo) this.#end(mid, track);
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    if (this.closed) return;
    const sdp = filterUnitCandidates(this.pc.localDescription!.sdp, this.r.allowCandidate);
    await this.r.connection.request('mediaAnswer', { roomId: this.r.roomId, revision: offer.revision, sdp });
    if (this.closed) return;
    this.unitReady();
    const current = new Set(this.tracks.values());
    for (const track of added) {
      if (!current.has(track)) continue;
      track.announced = true;
      this.r.trackAdded(track);
    }
  }

  #end(mid: string, track: ReceivedTrack): void {
    this.tracks.delete(mid);
    this.r.trackEnded(track);
  }

  /** Ends every track (the transport closes). */
  endAll(): void {
    for (const [mid, track] of [...this.tracks]) this.#end(mid, track);
  }

  override close(): void {
    if (this.closed) return;
    super.close();
    this.endAll();
  }
}
