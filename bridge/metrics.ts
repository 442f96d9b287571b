/**
 * Prometheus metrics (prom-client), served at `GET /metrics` behind an operator API key
 * (docs/operations/metrics.md). One registry per Bridge, so several Bridges in one process (tests,
 * embedders) do not mix their numbers. Totals the services keep as plain counters are read at scrape
 * time; only the HTTP latency histogram is observed per request.
 */
import type { RequestHandler } from 'express';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AuthService } from './auth/service.ts';
import type { OverloadMonitor } from './overload/overload.ts';
import type { RealtimeHub } from './realtime/hub.ts';
import type { SealroomRelay } from './realtime/relay.ts';

/** Counters another part of the Bridge keeps, each a plain number read at scrape time. */
export type CounterSource = () => Record<string, number>;

export interface MetricsSources {
  hub: RealtimeHub;
  relay: SealroomRelay;
  auth: AuthService;
  /** The event-loop lag and overload gate (docs/operations/limits.md, "Overload"). */
  overload?: OverloadMonitor;
  /** More totals (room quotas, ...), exported as `sealroom_<prefix>_<name>_total`. */
  extra?: Record<string, CounterSource>;
}

export class BridgeMetrics {
  readonly registry = new Registry();
  readonly #http: Histogram<'method' | 'route' | 'status'>;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'sealroom_' });
    this.#http = new Histogram({
      name: 'sealroom_http_request_duration_seconds',
      help: 'REST request latency by route template and status class',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    const { hub, relay, auth } = sources;
    gauge(registers, 'sealroom_connections', 'open WebSocket connections', () => hub.connections.size);
    gauge(registers, 'sealroom_joined_rooms', 'rooms with at least one joined connection', () => relay.occupancy().rooms);
    gauge(registers, 'sealroom_room_participants', 'joined (room, connection) pairs', () => relay.occupancy().participants);
    gauge(registers, 'sealroom_tracks', 'published tracks', () => relay.occupancy().tracks);
    gauge(registers, 'sealroom_byte_streams', 'open byte streams', () => relay.occupancy().byteStreams);
    total(registers, 'sealroom_relayed_frames_total', 'frames received from publishers and senders', ['kind'], () => [
      [{ kind: 'data' }, relay.counters.dataFrames],
      [{ kind: 'chunk' }, relay.counters.chunkFrames],
    ]);
    total(registers, 'sealroom_relayed_bytes_total', 'bytes of frames received from publishers and senders', ['kind'], () => [
      [{ kind: 'data' }, relay.counters.dataBytes],
      [{ kind: 'chunk' }, relay.counters.chunkBytes],
    ]);
    total(registers, 'sealroom_deliveries_total', 'frames handed to receivers (one per receiver)', ['kind'], () => [
      [{ kind: 'data' }, relay.counters.dataDeliveries],
      [{ kind: 'chunk' }, relay.counters.chunkDeliveries],
    ]);
    total(registers, 'sealroom_drops_total', 'data dropped or cut, by cause', ['cause'], () => [
      [{ cause: 'data_slow_subscriber' }, relay.counters.dataDroppedSlow],
      [{ cause: 'data_deadline' }, relay.counters.dataDroppedDeadline],
      [{ cause: 'data_reliable_cut' }, relay.counters.dataTracksCut],
      ...Object.entries(relay.counters.receiversCut).map(([reason, n]): Sample => [{ cause: `stream_receiver_${reason}` }, n]),
      ...Object.entries(relay.counters.streamsAborted).map(([reason, n]): Sample => [{ cause: `stream_aborted_${reason}` }, n]),
      [{ cause: 'socket_outbound_overflow' }, hub.counters.outboundOverflows],
    ]);
    total(registers, 'sealroom_receipts_total', 'delivery receipts relayed to senders, and refused by code', ['outcome'], () => [
      [{ outcome: 'relayed' }, relay.counters.receipts.relayed],
      ...Object.entries(relay.counters.receipts.refused).map(([code, n]): Sample => [{ outcome: `refused_${code}` }, n]),
    ]);
    total(registers, 'sealroom_refusals_total', 'requests and connections refused by a limit', ['limit'], () => [
      [{ limit: 'connections_per_address' }, hub.counters.connectionsRefused],
      [{ limit: 'sockets_replaced' }, hub.counters.socketsReplaced],
      [{ limit: 'room_changes' }, hub.roomChanges.refused],
      [{ limit: 'login_rate' }, auth.counters.loginRateLimited],
    ]);
    total(registers, 'sealroom_logins_total', 'login attempts by outcome', ['outcome'], () => [
      [{ outcome: 'success' }, auth.counters.logins],
      [{ outcome: 'failure' }, auth.counters.loginFailures],
    ]);
    const { overload } = sources;
    if (overload !== undefined) {
      gauge(registers, 'sealroom_overloaded', '1 while the Bridge refuses new work with OVERLOADED (event loop saturated)', () =>
        overload.overloaded ? 1 : 0,
      );
      gauge(registers, 'sealroom_event_loop_lag_seconds', "event-loop lag p99 of the overload monitor's last window", () => overload.lagMs / 1000);
      total(registers, 'sealroom_overload_episodes_total', 'overloads started (the lag stayed over its threshold)', [], () => [[{}, overload.episodes]]);
      total(registers, 'sealroom_overload_refusals_total', 'requests refused with OVERLOADED, by what they would have started', ['request'], () =>
        Object.entries(overload.counters.refused).map(([request, n]): Sample => [{ request }, n]),
      );
    }
    for (const [prefix, source] of Object.entries(sources.extra ?? {})) {
      total(registers, `sealroom_${prefix}_total`, `${prefix} totals by name`, ['name'], () =>
        Object.entries(source()).map(([name, n]): Sample => [{ name }, n]),
      );
    }
  }

  /** Express middleware: observes each request's latency under its route template, not its path. */
  observe(): RequestHandler {
    return (req, res, next) => {
      const end = this.#http.startTimer({ method: req.method });
      res.on('finish', () => {
        const template = (req.route as { path?: string } | undefined)?.path;
        const route = typeof template === 'string' ? `${req.baseUrl}${template}` : 'unmatched';
        end({ route, status: `${Math.floor(res.statusCode / 100)}xx` });
      });
      next();
    };
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

type Sample = [labels: Record<string, string>, value: number];

function gauge(registers: Registry[], name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers,
    collect() {
      this.set(read());
    },
  });
}

/** A counter whose values are totals kept elsewhere, set at scrape time. */
function total(registers: Registry[], name: string, help: string, labelNames: string[], read: () => Sample[]): void {
  new Counter({
    name,
    help,
    labelNames,
    registers,
    collect() {
      this.reset();
      for (const [labels, value] of read()) if (value > 0) this.inc(labels, value);
    },
  });
}
