/** Connects test users through the real Endpoint library. */
import { Endpoint, type Connection, type EventApi, type StreamApi, type StreamApiOptions } from '../endpoint/index.ts';
import type { ConnectOptions } from '../endpoint/connection.ts';
import { EndpointError } from '../endpoint/errors.ts';
import type { TestUser } from './identities.ts';

export interface Client {
  user: TestUser;
  connection: Connection;
  eventApi: EventApi;
  streamApi: StreamApi;
  me: { userId: string; pubKey: string };
}

export async function connectClient(
  bridgeUrl: string | readonly string[],
  solutionId: string,
  user: TestUser,
  options: { connect?: ConnectOptions; streamApi?: StreamApiOptions } = {},
): Promise<Client> {
  const connection = await Endpoint.connect(user.privateKey, solutionId, bridgeUrl, options.connect);
  const eventApi = await Endpoint.createEventApi(connection);
  const streamApi = await Endpoint.createStreamApi(connection, eventApi, options.streamApi);
  return { user, connection, eventApi, streamApi, me: { userId: user.userId, pubKey: user.publicKey } };
}

export const pub = (user: TestUser) => ({ userId: user.userId, pubKey: user.publicKey });

/** Resolves when `predicate` holds, polling; rejects after `timeoutMs` with `what` in the message. */
export async function until(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** How a call ended: `show(value)`, or the reason of the EndpointError it failed with (any other error is thrown). */
export async function outcome<T>(call: Promise<T>, show: (value: T) => string): Promise<string> {
  try {
    return show(await call);
  } catch (error) {
    if (error instanceof EndpointError) return error.reason;
    throw error;
  }
}
