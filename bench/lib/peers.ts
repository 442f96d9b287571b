/**
 * Handles on the client processes of bench/procs/peers.ts, which serve sealroom (`sealroom.*`),
 * socket.io (`socketio.*`) and plain ws (`ws.*`) handlers side by side.
 */
import type { Proc } from './procs.ts';

export type PeerSystem = 'sealroom' | 'socketio' | 'ws';

export interface Peer {
  proc: Proc;
  system: PeerSystem;
  call<T = unknown>(method: string, params?: unknown, timeoutMs?: number): Promise<T>;
}

export function peer(proc: Proc, system: PeerSystem): Peer {
  return { proc, system, call: (method, params, timeoutMs) => proc.call(`${system}.${method}`, params, timeoutMs) };
}
