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

/**
 * New KIDs whose frames never authenticated that one sender (data tracks) or one media track may cost
 * a receiver: each costs a key derivation (five HMACs and a key import) before it fails. A real
 * session never fails, so it never spends from this; forged KIDs past it are dropped (`noKey`) before
 * any key work. KID_FAILURES_BURST at once, then one every KID_FAILURE_REFILL_MS.
 */
export const KID_FAILURES_BURST = 16;
export const KID_FAILURE_REFILL_MS = 500;

/** A sender's or track's failed new KIDs: `spent` of the burst, as of `at` (ms). */
export interface KidFailures {
  spent: number;
  at: number;
}

/** Whether one more new KID may be tried at `now`; `failed` counts one that was tried in vain. */
export function kidMayBeTried(f: KidFailures | undefined, now: number): boolean {
  return f === undefined || f.spent - (now - f.at) / KID_FAILURE_REFILL_MS < KID_FAILURES_BURST - 1 + 1e-9;
}

export function kidFailed(f: KidFailures, now: number): void {
  f.spent = Math.min(KID_FAILURES_BURST, Math.max(0, f.spent - (now - f.at) / KID_FAILURE_REFILL_MS) + 1);
  f.at = now;
}
