/**
 * The connection state the app shows (docs/app.md), from the Connection's events: `connecting` until
 * signed in, `connected`, `reconnecting` after a drop (with the attempt), `reconnected` for a few
 * seconds after it came back, `offline` once closed for good. A pure reducer, tested on its own.
 */
export type ShownConnectionState =
  | { kind: 'connecting' }
  | { kind: 'connected' }
  | { kind: 'reconnecting'; attempt: number }
  | { kind: 'reconnected' }
  | { kind: 'offline'; reason: string };

export type ConnectionSignal =
  | { type: 'signedIn' }
  | { type: 'connectionLost' }
  | { type: 'reconnecting'; attempt: number }
  | { type: 'reconnected' }
  | { type: 'settled' }
  | { type: 'disconnected'; reason: string };

/** How long `reconnected` shows before it turns back into `connected`, in milliseconds. */
export const RECONNECTED_NOTICE_MS = 4000;

export function nextConnectionState(state: ShownConnectionState, signal: ConnectionSignal): ShownConnectionState {
  switch (signal.type) {
    case 'signedIn':
      return { kind: 'connected' };
    case 'connectionLost':
      return state.kind === 'offline' ? state : { kind: 'reconnecting', attempt: 0 };
    case 'reconnecting':
      return state.kind === 'offline' ? state : { kind: 'reconnecting', attempt: signal.attempt + 1 };
    case 'reconnected':
      return { kind: 'reconnected' };
    case 'settled':
      return state.kind === 'reconnected' ? { kind: 'connected' } : state;
    case 'disconnected':
      return { kind: 'offline', reason: signal.reason };
    default: {
      const never: never = signal;
      return never;
    }
  }
}

export function connectionLabel(state: ShownConnectionState): string {
  switch (state.kind) {
    case 'connecting':
      return 'Connecting…';
    case 'connected':
      return 'Connected';
    case 'reconnecting':
      return state.attempt > 1 ? `Reconnecting… (attempt ${state.attempt})` : 'Reconnecting…';
    case 'reconnected':
      return 'Reconnected';
    case 'offline':
      return 'Offline';
    default: {
      const never: never = state;
      return never;
    }
  }
}
