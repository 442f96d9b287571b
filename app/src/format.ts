/** Small formatting helpers shown in the app; pure, tested in format.test.ts. */

/** `1.5 MB`, `820 B`: decimal units, one decimal from kB up. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '?';
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** A safety number (60 digits) in 12 groups of 5, as Signal shows it, for reading aloud. */
export function groupSafetyNumber(digits: string): string[] {
  const groups: string[] = [];
  for (let i = 0; i < digits.length; i += 5) groups.push(digits.slice(i, i + 5));
  return groups;
}

/** A progress fraction (0..1, or undefined when the size is unknown) as a percentage for a <progress>. */
export function percent(fraction: number | undefined): number | undefined {
  if (fraction === undefined || !Number.isFinite(fraction)) return undefined;
  return Math.round(Math.min(1, Math.max(0, fraction)) * 100);
}

/** `14:03`, in the person's locale. */
export function formatTime(ms: number): string {
  return new Date(ms).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

/** A public key shortened for display: `srpk1abcd…wxyz`. */
export function shortKey(key: string): string {
  return key.length <= 16 ? key : `${key.slice(0, 9)}…${key.slice(-4)}`;
}

/**
 * A user id a person may pick in dev mode, or the problem with it. The Bridge's own rule is wider;
 * this keeps names readable (letters, digits, `-`, `_`, `.`, up to 32).
 */
export function userIdProblem(userId: string): string | undefined {
  if (userId === '') return 'Pick a name.';
  if (userId.length > 32) return 'A name has at most 32 characters.';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(userId)) return 'Use letters, digits, ".", "-" or "_" (starting with a letter or digit).';
  return undefined;
}

/**
 * Text another member chose (a name, a file name, a reason), shown as it is except for the characters
 * that reorder it or do not show: bidi controls, other invisible format characters (zero-width
 * spaces, the soft hyphen, tag characters; a zero-width joiner or non-joiner except between two
 * non-ASCII characters, where emoji sequences and Persian or Indic words need it), control
 * characters and the blank fillers (Hangul fillers, the blank Braille pattern). Each is shown as its
 * code, so `invoice\u202Efdp.exe` cannot pass for `invoiceexe.pdf`, nor `alice\u200B` for `alice`.
 */
export function visibleName(name: string): string {
  const nonAscii = (at: number) => at >= 0 && at < name.length && name.charCodeAt(at) > 0x7f;
  return name.replace(/(?:[\p{Cf}\p{Cc}\u115F\u1160\u180E\u2800\u3164\uFFA0]|\u034F)/gu, (c, at: number) =>
    // A joiner between two characters that need it (an emoji sequence, a Persian or Indic word) stays.
    (c === '\u200C' || c === '\u200D') && nonAscii(at - 1) && nonAscii(at + 1) ? c : `[U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}]`,
  );
}
