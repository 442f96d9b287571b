/**
 * The publish transport of one room: this client offers, the unit answers (docs/media/forwarding-unit.md,
 * "Signalling"). One send-only transceiver per published audio or video track, each with the
 * encrypting transform installed before it is negotiated; every offer carries the whole mapping of
 * m-lines to the Bridge's trackNos, and a track left out of it (stopped) ends at the unit.
 */
import { EndpointError } from '../errors.ts';
import type { LocalMediaTrackRef } from './local-tracks.ts';
import { MediaPeer, type PeerDeps } from './peer.ts';
import { filterCandidates, filterUnitCandidates, hasAudioLevelExtension, hideAudioLevels, restrictCodecs } from './sdp.ts';

interface Sender {
  transceiver: RTCRtpTransceiver;
  ref: LocalMediaTrackRef;
}

export class PublishPeer extends MediaPeer {
  /** By trackId. */
  readonly #senders = new Map<string, Sender>();
  /** Changes not yet accepted by the unit (a failed negotiation is tried again by the next sync). */
  #dirty = true;
  #held: ReadonlySet<number> = new Set();

  constructor(d: PeerDeps) {
    super(d, 'publish');
  }

  /** The tracks now sent, for audio levels. */
  tracks(): LocalMediaTrackRef[] {
    return [...this.#senders.values()].map((s) => s.ref);
  }

  /**
   * Brings the transceivers to `tracks` and, if anything changed, negotiates with the unit. Resolves
   * once the unit's answer is applied (true) or at once when nothing changed (false); the caller waits
   * for `connected()`.
   */
  async sync(tracks: LocalMediaTrackRef[]): Promise<boolean> {
    const wanted = new Set(tracks.map((t) => t.trackId));
    for (const [trackId, sender] of this.#senders) {
      if (wanted.has(trackId)) continue;
      this.#senders.delete(trackId);
      sender.transceiver.stop();
      this.#dirty = true;
    }
    for (const ref of tracks) {
      const sender = this.#senders.get(ref.trackId);
      if (sender !== undefined) {
        if (sender.ref.trackNo !== ref.trackNo) this.#dirty = true;
        sender.ref = ref;
        continue;
      }
      const track = ref.track as MediaStreamTrack;
      const transceiver = this.pc.addTransceiver(track, { direction: 'sendonly' });
      restrictCodecs(transceiver, ref.kind);
      hideAudioLevels(transceiver);
      // Before the first local description: no frame ever leaves unencrypted (docs/media/frame-encryption.md).
      // A sender that cannot be protected is stopped at once, so no later offer can carry it.
      try {
        this.d.e2ee.protectSender(transceiver.sender, { roomId: this.d.roomId, streamId: ref.streamId, trackId: ref.trackId, kind: ref.kind });
      } catch (error) {
        transceiver.stop();
        throw error;
      }
      this.#senders.set(ref.trackId, { transceiver, ref });
      this.#dirty = true;
    }
    this.hold(this.#held);
    if (!this.#dirty) return false;
    await this.#negotiate();
    return true;
  }

  /**
   * A direct call (docs/media/direct-calls.md): the senders of these trackNos send nothing to the unit
   * (their m-lines stay negotiated), the others send their tracks; a track given back starts with a keyframe.
   */
  hold(trackNos: ReadonlySet<number>): void {
    this.#held = trackNos;
    for (const s of this.#senders.values()) {
      const track = trackNos.has(s.ref.trackNo) ? null : (s.ref.track as MediaStreamTrack);
      if (s.transceiver.sender.track !== track && !this.closed) s.transceiver.sender.replaceTrack(track).catch(() => undefined);
    }
  }

  async #negotiate(): Promise<void> {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    const sdp = filterUnitCandidates(this.pc.localDescription!.sdp, this.d.allowCandidate);
    if (hasAudioLevelExtension(sdp)) {
      await this.#rollback();
      throw new EndpointError(
        'Unsupported',
        'this browser cannot leave the audio-level header extension out of its offer; media would tell the Bridge who speaks',
      );
    }
    const tracks = [...this.#senders.values()].map((s) => ({ mid: s.transceiver.mid!, trackNo: s.ref.trackNo }));
    let answer: { sdp: string; tracks: Array<{ mid: string; trackNo: number }> };
    try {
      answer = await this.d.connection.request('mediaOffer', { roomId: this.d.roomId, sdp, tracks });
      if (this.closed) throw EndpointError.connectionLost(`media in room "${this.d.roomId}" closed`);
      await this.pc.setRemoteDescription({ type: 'answer', sdp: filterCandidates(answer.sdp, this.d.allowCandidate) });
    } catch (error) {
      await this.#rollback();
      throw error;
    }
    this.#dirty = false;
    this.unitReady();
    const bound = new Set(answer.tracks.map((t) => t.mid));
    const unbound = tracks.filter((t) => !bound.has(t.mid));
    if (unbound.length > 0) {
      throw new EndpointError('Unsupported', `the forwarding unit took no codec for ${unbound.length} track(s) (this client sends VP8 and Opus only)`, {
        details: { trackNos: unbound.map((t) => t.trackNo) },
      });
    }
  }

  async #rollback(): Promise<void> {
    if (!this.closed && this.pc.signalingState === 'have-local-offer') await this.pc.setLocalDescription({ type: 'rollback' }).catch(() => undefined);
  }
}
