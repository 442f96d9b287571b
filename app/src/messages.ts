/**
 * Human messages for every error the app can meet (docs/app.md): each `EndpointError` and
 * `DataStreamError` reason has a sentence a person can act on. The tables are typed as complete
 * records, so a reason added to the library fails the typecheck here until it has its message, and
 * messages.test.ts compares them with the reason lists in the library's sources.
 */
import type { DataStreamErrorReason, EndpointErrorReason } from 'sealroom/endpoint';
import { visibleName } from './format.ts';

export const ENDPOINT_ERROR_MESSAGES: Readonly<Record<EndpointErrorReason, string>> = {
  InvalidArgument: 'That input was not accepted. Check what you typed and try again.',
  AuthFailed: 'Sign-in was refused: this key is not a user of that solution, or the session ended. Ask the operator to add your public key.',
  AccessDenied: 'You are not allowed to do that in this room (you may not be a member or a manager).',
  NotFound: 'That room no longer exists, or you cannot see it.',
  VersionConflict: 'Someone changed this room at the same time. It has been reloaded: make your change again.',
  RoomTampered: 'This room failed verification: what the server sent is not what its members signed. Nothing from it is shown.',
  Rollback: 'The server sent an older version of this room than you have already seen. It may be replaying old data; nothing from it is shown.',
  KeyUnavailable: 'You have no key for this room (you may have been removed, or the server withheld it).',
  KeyChanged: "A member's key is not the one you trusted before. Review the key-change warning before going on.",
  KeyRejected: 'That key was refused: the safety number did not match, or the check failed.',
  TrustStoreBusy: 'This identity is already open in another window or tab of this browser. Close it there (or sign out), then try again.',
  TrustStoreFailed: "This browser's storage of trusted keys could not be read or written (private browsing or a full disk?).",
  ConnectionLost: 'The connection to the server was lost. It reconnects by itself; try again in a moment.',
  Timeout: 'The server did not answer in time. Try again.',
  Aborted: 'Cancelled.',
  RateLimited: 'Too many requests: wait a little and try again.',
  BridgeRefused: 'The server refused this request.',
  Unsupported: 'This browser lacks something sealroom needs (a recent Chrome, Firefox or Safari works).',
};

export const DATA_STREAM_ERROR_MESSAGES: Readonly<Record<DataStreamErrorReason, string>> = {
  AbnormalEnd: 'The transfer stopped early: the sender left, lost its connection or cancelled it.',
  Integrity: 'The transfer failed its integrity check (altered, cut short or replayed) and was discarded.',
  Malformed: 'The transfer arrived intact but its contents are not valid.',
  ConnectionLost: 'The connection to the server was lost during the transfer.',
  TooSlow: 'The transfer was cut off because this window was not reading it fast enough.',
  Timeout: 'The transfer stalled: nothing moved for too long.',
  Removed: 'You were removed from the room (or it was deleted), so the transfer stopped.',
  RoomLeft: 'You left the room, so the transfer stopped.',
  Aborted: 'The transfer was cancelled.',
  HandlerExists: 'This window already handles that kind of transfer.',
  InvalidArgument: 'The transfer was not started: its input was not accepted.',
  KeyUnavailable: 'No key to encrypt or open this transfer (you may have been removed from the room).',
  LengthExceeded: 'The transfer is larger than allowed or than announced.',
  Incomplete: 'The transfer ended before all of its bytes arrived.',
  FileError: 'The file could not be read.',
  Unsupported: 'This browser cannot do that kind of transfer.',
};

/** Bridge codes that deserve a more precise sentence than their reason's (`BridgeRefused` mostly). */
const BRIDGE_CODE_MESSAGES: Readonly<Record<string, string>> = {
  CONTEXT_ROOM_QUOTA: 'This context holds as many rooms as it may. Delete one first.',
  ROOM_VERSION_QUOTA: 'This room has been changed as many times as it may be.',
  USER_CONFLICT: 'That name is taken (by another key). Pick another name.',
  ROOM_FULL: 'This room is full.',
  TOO_MANY_ROOMS: 'This window has joined as many rooms as it may.',
  SHUTTING_DOWN: 'The server is restarting. Try again in a moment.',
  // The Bridge as a whole is saturated (docs/operations/limits.md, "Overload"), not this person too fast.
  OVERLOADED: 'The server is busy right now. Try again in a moment.',
  BODY_TOO_LARGE: 'That is too large for the server.',
};

/**
 * An error of the app itself whose message is written for the person (a form's problem, a refused
 * device): shown as it is, with `code` `APP_<KIND>`.
 */
export class PersonError extends Error {
  override readonly name = 'PersonError';
  readonly code: string;
  constructor(kind: 'INPUT' | 'DEVICE' | 'LIMIT', message: string) {
    super(message);
    this.code = `APP_${kind}`;
  }
}

/** What the app shows for an error: a title-less sentence and, separately, the technical code. */
export interface ShownError {
  message: string;
  /** `ERR_ENDPOINT_TIMEOUT`, a Bridge code, or the error's name: for a bug report, shown small. */
  code: string;
}

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  reason?: unknown;
  bridgeCode?: unknown;
  retryAfterMs?: unknown;
  abortReason?: unknown;
  message?: unknown;
}

const isEndpointReason = (r: unknown): r is EndpointErrorReason => typeof r === 'string' && Object.hasOwn(ENDPOINT_ERROR_MESSAGES, r);
const isDataStreamReason = (r: unknown): r is DataStreamErrorReason => typeof r === 'string' && Object.hasOwn(DATA_STREAM_ERROR_MESSAGES, r);

/**
 * The message for any thrown value. Matches on the stable `code` prefix (`ERR_ENDPOINT_`,
 * `ERR_DATA_STREAM_`) rather than `instanceof`, so it also works on errors that crossed a bundle
 * boundary. Never shows the library's own message, which may name ids a person does not know.
 */
export function describeError(error: unknown): ShownError {
  const e = (typeof error === 'object' && error !== null ? error : {}) as ErrorLike;
  const code = typeof e.code === 'string' ? e.code : typeof e.name === 'string' ? e.name : 'Error';
  if (code.startsWith('ERR_DATA_STREAM_') && isDataStreamReason(e.reason)) {
    // The sender's own words, inside the app's message: shown as theirs, with nothing that reorders
    // or hides text (visibleName), so they cannot pass for the app's.
    const abort = typeof e.abortReason === 'string' && e.abortReason !== '' ? ` The sender said: "${visibleName(e.abortReason.slice(0, 200))}".` : '';
    return { message: DATA_STREAM_ERROR_MESSAGES[e.reason] + abort, code };
  }
  if (code.startsWith('ERR_ENDPOINT_') && isEndpointReason(e.reason)) {
    const bridgeCode = typeof e.bridgeCode === 'string' ? e.bridgeCode : undefined;
    let message = (bridgeCode !== undefined ? BRIDGE_CODE_MESSAGES[bridgeCode] : undefined) ?? ENDPOINT_ERROR_MESSAGES[e.reason];
    if (e.reason === 'RateLimited' && typeof e.retryAfterMs === 'number') {
      const seconds = Math.ceil(e.retryAfterMs / 1000);
      message = bridgeCode === 'OVERLOADED' ? `The server is busy right now: try again in ${seconds} s.` : `Too many requests: try again in ${seconds} s.`;
    }
    return { message, code: bridgeCode === undefined ? code : `${code} (${bridgeCode})` };
  }
  // The app's own errors (the key store, dev mode) carry a message written for people.
  const ownMessage = e.name === 'PersonError' || e.name === 'KeyStoreError' || e.name === 'DevModeError';
  if (ownMessage && typeof e.message === 'string' && !Object.hasOwn(BRIDGE_CODE_MESSAGES, code)) {
    return { message: e.message, code };
  }
  if (typeof e.code === 'string' && Object.hasOwn(BRIDGE_CODE_MESSAGES, e.code)) return { message: BRIDGE_CODE_MESSAGES[e.code]!, code };
  return { message: 'Something went wrong. Try again; if it keeps happening, reload the page.', code };
}

/** A room item that failed verification in a listing carries its reason as `statusCode`. */
export function statusMessage(statusCode: EndpointErrorReason): string {
  return ENDPOINT_ERROR_MESSAGES[statusCode];
}
