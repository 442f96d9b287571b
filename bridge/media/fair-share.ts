/**
 * How a subscriber's receive budget (`maxReceivedTracksPerConnection`) is shared between the users
 * who publish in its room (docs/media/forwarding-unit.md, "Configuration").
 */
/** Up to `budget` items taken round the lists, one from each in turn, each list in its order. */
export function fairShare<T>(lists: readonly T[][], budget: number): T[] {
  const out: T[] = [];
  for (let i = 0; out.length < budget; i++) {
    let took = false;
    for (const list of lists) {
      if (out.length >= budget) break;
      if (i < list.length) {
        out.push(list[i]!);
        took = true;
      }
    }
    if (!took) break;
  }
  return out;
}
