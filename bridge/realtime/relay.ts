/**
 * Placeholder relay while the real-time plane (issue 5) is being built: every relay request is refused
 * with a clear code. Replaced by the full relay.
 */
import { HttpError } from '../http/errors.ts';
import type { Relay } from './relay-types.ts';

const refuse = async (): Promise<never> => {
  throw new HttpError(501, 'NOT_FOUND', 'the real-time relay is not available in this build');
};

export function createRelay(_services: unknown): Relay {
  return {
    join: refuse,
    leave: refuse,
    publish: refuse,
    updateStream: refuse,
    unpublish: refuse,
    listStreams: refuse,
    subscribeStreams: refuse,
    byteStreamOpen: refuse,
    byteStreamCredit: () => undefined,
    byteStreamReject: () => undefined,
    data: () => undefined,
    chunk: () => undefined,
    disconnected: () => undefined,
    roomUpdated: () => undefined,
    roomDeleted: () => undefined,
    close: () => undefined,
  };
}
