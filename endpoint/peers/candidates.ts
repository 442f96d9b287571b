/**
 * A description's ICE candidates, taken out of its SDP to be sent separately (`candidate` signals):
 * the caller sends its candidates only once the member accepted (docs/protocol/peer-signalling.md).
 */
import type { IceCandidateWire } from '../../protocol/ws.ts';

/** The SDP without candidate lines (nor `end-of-candidates`), and the candidates with their m-line. */
export function splitCandidates(sdp: string): { sdp: string; candidates: IceCandidateWire[] } {
  const lines = sdp.split('\r\n');
  // An m-section's mid may come after its candidates: find every section's mid first.
  const mids: Array<string | null> = [];
  for (const line of lines) {
    if (line.startsWith('m=')) mids.push(null);
    else if (line.startsWith('a=mid:') && mids.length > 0) mids[mids.length - 1] = line.slice('a=mid:'.length);
  }
  const kept: string[] = [];
  const candidates: IceCandidateWire[] = [];
  let section = -1;
  for (const line of lines) {
    if (line.startsWith('m=')) section++;
    if (line.startsWith('a=candidate:') && section >= 0) {
      candidates.push({ candidate: line.slice(2), sdpMid: mids[section] ?? null, sdpMLineIndex: section });
    } else if (line !== 'a=end-of-candidates') {
      kept.push(line);
    }
  }
  return { sdp: kept.join('\r\n'), candidates };
}
