/**
 * The private meta of each room's head, opened once: a read of a known room at an unchanged head (the
 * most common read) would otherwise derive the meta key and decrypt the same bytes again.
 *
 * An entry is used only for the same room, version, epoch, epoch key and sealed text it was opened
 * from: the same inputs to the same authenticated decryption, so the answer is the one a fresh open
 * would give. Each reader gets its own copy. The epoch key is compared by identity with the key ring's
 * own array (keyring.ts hands out the array it holds), so no copy of key material is kept here: when
 * the ring forgets a key it zeroes that array, and a key admitted again is a new one.
 *
 * Bounded by bytes as well as by rooms: most private metas are small, so many rooms fit (a client that
 * reads more rooms than it keeps, in turn, opens every one afresh: docs/operations/room-creates.md,
 * "Verified gets"), while a few of 64 KiB cannot hold much memory.
 */
import { openPrivateMeta, type MetaBinding } from './meta.ts';

/** Rooms whose opened head meta is kept at most; past it the oldest goes. */
export const OPENED_META_ROOMS = 10_000;
/** Bytes kept at most, of opened and sealed meta together; past it the oldest go. */
export const OPENED_META_BYTES = 4 * 1024 * 1024;

interface Entry {
  version: number;
  epoch: number;
  /** The key ring's array (not a copy): compared by identity. */
  epochKey: Uint8Array;
  sealed: string;
  plaintext: Uint8Array;
}

export class OpenedMeta {
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;
  /** Opens answered from an entry (tests). */
  hits = 0;

  constructor(
    private readonly maxRooms = OPENED_META_ROOMS,
    private readonly maxBytes = OPENED_META_BYTES,
  ) {}

  /** Opens `sealed` (base64, as in the record) under `binding`, or copies the answer it gave last time. */
  async open(binding: MetaBinding, sealed: string, decode: (base64: string) => Uint8Array): Promise<Uint8Array> {
    const known = this.#entries.get(binding.roomId);
    if (
      known !== undefined &&
      known.version === binding.version &&
      known.epoch === binding.epoch &&
      known.sealed === sealed &&
      known.epochKey === binding.epochKey
    ) {
      this.hits++;
      return known.plaintext.slice();
    }
    const plaintext = await openPrivateMeta(binding, decode(sealed));
    this.#forget(binding.roomId);
    const bytes = entryBytes(sealed, plaintext);
    if (bytes > this.maxBytes) return plaintext;
    while (this.#entries.size >= this.maxRooms || this.#bytes + bytes > this.maxBytes) {
      this.#forget(this.#entries.keys().next().value as string);
    }
    this.#entries.set(binding.roomId, {
      version: binding.version,
      epoch: binding.epoch,
      epochKey: binding.epochKey,
      sealed,
      plaintext: plaintext.slice(),
    });
    this.#bytes += bytes;
    return plaintext;
  }

  /** Rooms held now (tests). */
  get size(): number {
    return this.#entries.size;
  }

  /** Bytes held now, as the bound counts them (tests). */
  get bytes(): number {
    return this.#bytes;
  }

  #forget(roomId: string): void {
    const entry = this.#entries.get(roomId);
    if (entry === undefined) return;
    this.#entries.delete(roomId);
    this.#bytes -= entryBytes(entry.sealed, entry.plaintext);
  }
}

/** What an entry counts against the bound: its plaintext and its sealed text (base64, a byte a character). */
function entryBytes(sealed: string, plaintext: Uint8Array): number {
  return sealed.length + plaintext.length;
}
