/**
 * The page's config, and the Bridge's dev mode (docs/app.md) when `/app-config.json` says it is on: `GET /dev/v1/info` names
 * the demo context and `POST /dev/v1/register` adds this browser's user to it. Off (the default),
 * `/dev/v1` does not exist and the app asks for a solution id and an operator instead.
 */
export interface DevInfo {
  solutionId: string;
  contextId: string;
  contextName: string;
}

export class DevModeError extends Error {
  override readonly name = 'DevModeError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** How long a dev-mode request may take, in milliseconds. */
const DEV_REQUEST_TIMEOUT_MS = 10_000;

/** What the Bridge that serves the page says about it (`GET /app-config.json`, bridge/http/app-static.ts). */
export interface AppConfig {
  devMode: boolean;
  /** The media unit takes loopback ICE candidates only: offer no others. */
  mediaLoopbackOnly: boolean;
}

/** The page's config; a Bridge that does not say (or fails to) means no dev mode and no candidate filter. */
export async function appConfig(): Promise<AppConfig> {
  try {
    const response = await fetch('/app-config.json', { signal: AbortSignal.timeout(DEV_REQUEST_TIMEOUT_MS) });
    const body = (response.ok ? await response.json() : {}) as Partial<Record<keyof AppConfig, unknown>>;
    return { devMode: body.devMode === true, mediaLoopbackOnly: body.mediaLoopbackOnly === true };
  } catch {
    return { devMode: false, mediaLoopbackOnly: false };
  }
}

/** The demo context (call only when `appConfig().devMode`). */
export async function devInfo(): Promise<DevInfo> {
  const response = await fetch('/dev/v1/info', { signal: AbortSignal.timeout(DEV_REQUEST_TIMEOUT_MS) });
  if (!response.ok) throw new DevModeError('DEV_INFO_FAILED', `dev mode: the server answered ${response.status}`);
  const body = (await response.json()) as Partial<DevInfo>;
  if (typeof body.solutionId !== 'string' || typeof body.contextId !== 'string') throw new DevModeError('BAD_RESPONSE', 'dev mode: unexpected answer');
  return { solutionId: body.solutionId, contextId: body.contextId, contextName: String(body.contextName ?? 'demo') };
}

/** Registers `userId` with `publicKey` in the demo context (the same pair again is fine). */
export async function devRegister(userId: string, publicKey: string): Promise<void> {
  const response = await fetch('/dev/v1/register', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId, publicKey }),
    signal: AbortSignal.timeout(DEV_REQUEST_TIMEOUT_MS),
  });
  if (response.ok) return;
  const body = (await response.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
  const code = body.error?.code ?? `HTTP_${response.status}`;
  throw new DevModeError(code, body.error?.message ?? `dev mode: registration failed (${response.status})`);
}
