/**
 * The Bridge URLs a connection may use: one Bridge, or several Bridges of one cluster
 * (docs/operations/cluster.md) to fail over between (docs/operations/failover.md). Validated once,
 * here, when the app connects; each is kept as origin and path without a trailing slash, the form a
 * login signs (docs/security/login.md), so two spellings of one Bridge count as the same URL.
 */
import { EndpointError } from './errors.ts';

/** A connection takes at most this many Bridge URLs. */
export const MAX_BRIDGE_URLS = 16;

/** One URL, normalized; `name` is how the error names the argument. */
function normalized(value: unknown, name: string): string {
  let url: URL;
  try {
    url = new URL(value as string);
  } catch {
    throw EndpointError.invalidArgument(`"${name}" expected an http(s) URL, got "${String(value).slice(0, 100)}"`);
  }
  if (typeof value !== 'string') throw EndpointError.invalidArgument(`"${name}" expected an http(s) URL as a string, got ${typeof value}`);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw EndpointError.invalidArgument(`"${name}" expected an http(s) URL, got protocol ${url.protocol}`);
  }
  return url.origin + url.pathname.replace(/\/$/, '');
}

/**
 * `connect`'s Bridge argument as a list of normalized URLs: one URL, or a non-empty list of at most
 * `MAX_BRIDGE_URLS` distinct ones. Anything else fails with `InvalidArgument` naming the bad entry.
 * @example bridgeUrlList(['https://a.example/', 'https://b.example']) // ['https://a.example', 'https://b.example']
 */
export function bridgeUrlList(value: unknown): string[] {
  if (!Array.isArray(value)) return [normalized(value, 'bridgeUrl')];
  if (value.length === 0) throw EndpointError.invalidArgument('"bridgeUrl" expected a URL or a non-empty list of URLs, got an empty list');
  if (value.length > MAX_BRIDGE_URLS) {
    throw EndpointError.invalidArgument(`"bridgeUrl" expected at most ${MAX_BRIDGE_URLS} URLs, got ${value.length}`);
  }
  const urls: string[] = [];
  for (const [i, entry] of value.entries()) {
    const url = normalized(entry, `bridgeUrl[${i}]`);
    const first = urls.indexOf(url);
    if (first !== -1) throw EndpointError.invalidArgument(`"bridgeUrl[${i}]" repeats bridgeUrl[${first}] (${url})`);
    urls.push(url);
  }
  return urls;
}

/**
 * Whether `connect` passes over a Bridge that failed with `error` and tries the next of the list
 * (docs/operations/failover.md, "Connecting"): one that cannot be reached (`ConnectionLost`,
 * `Timeout`), or one that refuses new work for now, which another Bridge of the cluster may not:
 * saturated (`bridgeCode` `OVERLOADED`: an `error` before close 1013 on the socket, or a 503 over REST)
 * or shutting down (`SHUTTING_DOWN`, a 503 while it drains, as in a rolling restart). Any other refusal
 * (`AuthFailed`, a client's own `RATE_LIMITED`, ...) is the cluster's answer.
 */
export function passOver(error: unknown): boolean {
  if (!(error instanceof EndpointError)) return false;
  return error.reason === 'ConnectionLost' || error.reason === 'Timeout' || refusedForNow(error);
}

/** A Bridge's refusal that says "not now, here" (it names how long to wait): saturated or shutting down. */
export function refusedForNow(error: EndpointError): boolean {
  return error.bridgeCode === 'OVERLOADED' || error.bridgeCode === 'SHUTTING_DOWN';
}

/**
 * Of the refusals a `connect` collected, the one to throw: the shortest wait (a refusal that named
 * none counts as the longest).
 */
export function soonestRetry(refusals: readonly EndpointError[]): EndpointError | undefined {
  const wait = (e: EndpointError) => e.retryAfterMs ?? Number.POSITIVE_INFINITY;
  return refusals.reduce<EndpointError | undefined>((best, e) => (best === undefined || wait(e) < wait(best) ? e : best), undefined);
}

/** The list and the one in use; `next()` moves round robin. */
export class BridgeRing {
  readonly urls: readonly string[];
  #index = 0;

  constructor(urls: readonly string[]) {
    this.urls = Object.freeze([...urls]);
  }

  get current(): string {
    return this.urls[this.#index]!;
  }

  /** Moves to the next URL (back to the first after the last) and returns it. */
  next(): string {
    this.#index = (this.#index + 1) % this.urls.length;
    return this.current;
  }
}
