/**
 * What the media session negotiates (docs/media/endpoint-media.md, "Negotiation"): VP8 and Opus only
 * (the codecs whose frame layout the frame encryption knows, docs/media/frame-encryption.md), no
 * audio-level header extension (it would tell the unit who speaks and how loud), and ICE candidates
 * filtered by the app's `allowCandidate`.
 */

/** The codec each kind is restricted to. */
const CODEC_MIME: Record<'audio' | 'video', string> = { audio: 'audio/opus', video: 'video/vp8' };

/** RTP header extensions never negotiated: audio levels (RFC 6464, RFC 6465). */
const HIDDEN_EXTENSIONS = ['urn:ietf:params:rtp-hdrext:ssrc-audio-level', 'urn:ietf:params:rtp-hdrext:csrc-audio-level'];

/** Puts only VP8 (video) or Opus (audio) on the transceiver's m-line. */
export function restrictCodecs(transceiver: RTCRtpTransceiver, kind: 'audio' | 'video'): void {
  const codecs = (RTCRtpReceiver.getCapabilities(kind)?.codecs ?? []).filter((c) => c.mimeType.toLowerCase() === CODEC_MIME[kind]);
  if (codecs.length > 0) transceiver.setCodecPreferences(codecs);
}

/** Takes the audio-level extensions out of what the transceiver offers or answers, where the browser allows it. */
export function hideAudioLevels(transceiver: RTCRtpTransceiver): void {
  const t = transceiver as RTCRtpTransceiver & {
    getHeaderExtensionsToNegotiate?: () => Array<{ uri: string; direction: RTCRtpTransceiverDirection }>;
    setHeaderExtensionsToNegotiate?: (extensions: Array<{ uri: string; direction: RTCRtpTransceiverDirection }>) => void;
  };
  if (t.getHeaderExtensionsToNegotiate === undefined || t.setHeaderExtensionsToNegotiate === undefined) return;
  const extensions = t.getHeaderExtensionsToNegotiate();
  if (!extensions.some((e) => HIDDEN_EXTENSIONS.includes(e.uri))) return;
  t.setHeaderExtensionsToNegotiate(extensions.map((e) => (HIDDEN_EXTENSIONS.includes(e.uri) ? { ...e, direction: 'stopped' } : e)));
}

/** The `extmap` lines of audio levels, if a description still has one (checked before it leaves). */
export function hasAudioLevelExtension(sdp: string): boolean {
  return HIDDEN_EXTENSIONS.some((uri) => sdp.includes(uri));
}

/**
 * The connection address of a candidate line (`candidate:<foundation> <component> <transport>
 * <priority> <address> <port> typ ...`, RFC 8839 section 5.1), with or without `a=`.
 */
export function candidateAddress(candidate: string): string | undefined {
  return candidateFields(candidate)?.[4];
}

/** The transport field of a candidate line (`udp`, `tcp`), lower-cased, with or without `a=`. */
export function candidateTransport(candidate: string): string | undefined {
  return candidateFields(candidate)?.[2]?.toLowerCase();
}

/** The fields of a candidate line, or undefined for a line that is not one. */
function candidateFields(candidate: string): string[] | undefined {
  const fields = candidate.replace(/^a=/, '').trim().split(/\s+/);
  return fields.length >= 8 && fields[0]!.startsWith('candidate:') ? fields : undefined;
}

/**
 * Whether a local candidate goes to the forwarding unit: UDP only, since the unit gathers and takes
 * UDP only (docs/media/forwarding-unit.md, "What is missing"), and an address the app allows. Chromium also
 * gathers TCP candidates; offering them would only make the unit refuse them.
 */
export function unitCandidate(candidate: string, allow: ((address: string) => boolean) | undefined): boolean {
  const fields = candidateFields(candidate);
  if (fields?.[2]?.toLowerCase() !== 'udp') return false;
  return allow === undefined || allow(fields[4]!);
}

/** Removes the candidate lines whose address the app does not allow. */
export function filterCandidates(sdp: string, allow: ((address: string) => boolean) | undefined): string {
  if (allow === undefined) return sdp;
  return keepCandidates(sdp, (line) => {
    const address = candidateAddress(line);
    return address !== undefined && allow(address);
  });
}

/** Keeps, of a description for the forwarding unit, only the candidate lines `unitCandidate` lets through. */
export function filterUnitCandidates(sdp: string, allow: ((address: string) => boolean) | undefined): string {
  return keepCandidates(sdp, (line) => unitCandidate(line, allow));
}

function keepCandidates(sdp: string, keep: (line: string) => boolean): string {
  return sdp
    .split('\r\n')
    .filter((line) => !line.startsWith('a=candidate:') || keep(line))
    .join('\r\n');
}
