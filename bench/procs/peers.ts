/**
 * A client process of the fan-out, TTFB and memory benchmarks. It can hold sealroom Endpoint
 * connections (`sealroom.*` handlers, bench/procs/sealroom-peers.ts), socket.io connections
 * (`socketio.*`, bench/procs/sio-peers.ts) and plain ws connections (`ws.*`, bench/procs/ws-peers.ts)
 * side by side, so both systems run in the same processes:
 * the same layout, and half the process start-ups. Connections of the system not being measured sit
 * idle.
 */
import { serve, type Handler } from '../lib/worker.ts';
import { sealroomPeers } from './sealroom-peers.ts';
import { socketIoPeers } from './sio-peers.ts';
import { wsPeers } from './ws-peers.ts';

function prefixed(prefix: string, handlers: Record<string, Handler>): Record<string, Handler> {
  return Object.fromEntries(Object.entries(handlers).map(([name, handler]) => [`${prefix}.${name}`, handler]));
}

serve({ ...prefixed('sealroom', sealroomPeers()), ...prefixed('socketio', socketIoPeers()), ...prefixed('ws', wsPeers()) });
