/**
 * The media forwarding unit (docs/media/forwarding-unit.md): `createMediaUnit` builds the in-process
 * werift unit, loaded at the first `mediaJoin` (lazy-unit.ts), or one that refuses every request when
 * media is disabled.
 */
import type { Logger } from 'pino';
import type { MediaConfig } from './config.ts';
import { MediaError } from './errors.ts';
import { zeroMediaCounters, type MediaDirectory, type MediaUnit } from './unit.ts';
import { LazyMediaUnit } from './lazy-unit.ts';

export { mediaSchema, type MediaConfig } from './config.ts';
export { MediaError, type MediaErrorCode } from './errors.ts';
export type { MediaClient, MediaCounters, MediaDirectory, MediaTrackInfo, MediaTrackStats, MediaUnit, MediaUnitStats } from './unit.ts';

export function createMediaUnit(config: MediaConfig, directory: MediaDirectory, log: Logger): MediaUnit {
  if (!config.enabled) return disabledMediaUnit();
  return new LazyMediaUnit(config, directory, log);
}

function disabledMediaUnit(): MediaUnit {
  const refuse = (): never => {
    throw new MediaError('MEDIA_DISABLED', 'expected a Bridge with media forwarding, got one with media.enabled false');
  };
  return {
    join: refuse,
    leave: () => undefined,
    offer: async () => refuse(),
    answer: async () => refuse(),
    candidate: async () => refuse(),
    roomChanged: () => undefined,
    connectionClosed: () => undefined,
    stats: () => ({ sessions: 0, publishTransports: 0, receiveTransports: 0, tracks: [], candidatesRefused: 0 }),
    counters: zeroMediaCounters(),
    close: async () => undefined,
  };
}
