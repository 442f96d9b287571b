/** What every part of a running Bridge shares: configuration, storage, logging, events and the clock. */
import type { Logger } from 'pino';
import type { BridgeConfig } from './config.ts';
import type { BridgeEvents } from './events.ts';
import type { Store } from './store/types.ts';

export interface BridgeServices {
  config: BridgeConfig;
  store: Store;
  log: Logger;
  events: BridgeEvents;
  /** Milliseconds since the Unix epoch. Injected so tests can move time. */
  now: () => number;
}
