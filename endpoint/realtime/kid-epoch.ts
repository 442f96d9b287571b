/**
 * The full epoch a KID names (docs/design.md "Data tracks and media frames"). The KID holds the low 8
 * bits of the epoch (crypto/sframe/kid.ts). Receivers keep only the newest epoch and those still in
 * their grace period, so the full epoch is the one with those low bits nearest to the newest held: up
 * to 127 epochs newer (a rotation this client has not fetched yet) or up to 128 older. Used by data
 * tracks and by the media frame worker, so it imports nothing.
 */

/** Epochs a KID's 8 low bits can name: half ahead of the newest held, half behind. */
const EPOCH_LOW_MODULUS = 256;
const EPOCH_AHEAD_MAX = 127;

/**
 * The full epoch a KID's low 8 bits name, given the newest epoch held: `newer` when it is ahead of it
 * (the room must be fetched again). Undefined when it would be below epoch 1.
 */
export function resolveEpoch(newestHeld: number, epochLow: number): { epoch: number; newer: boolean } | undefined {
  const delta = (((epochLow - newestHeld) % EPOCH_LOW_MODULUS) + EPOCH_LOW_MODULUS) % EPOCH_LOW_MODULUS;
  if (delta === 0) return { epoch: newestHeld, newer: false };
  if (delta <= EPOCH_AHEAD_MAX) return { epoch: newestHeld + delta, newer: true };
  const epoch = newestHeld + delta - EPOCH_LOW_MODULUS;
  return epoch >= 1 ? { epoch, newer: false } : undefined;
}
