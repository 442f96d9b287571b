/**
 * The login exchange with one Bridge (docs/security/login.md): the Bridge's challenge nonce, the
 * Bridge URL and a timestamp, signed with the user's key. The URL in the signature is the Bridge the
 * requests go to, so a login is good at that Bridge only; a connection that moves to another Bridge
 * logs in there afresh (docs/operations/failover.md). The requests carry no session token.
 */
import { fromBase64, toBase64 } from '../crypto/bytes.ts';
import { challengeResponseSchema, sessionResponseSchema } from '../protocol/api.ts';
import { authMessage } from '../protocol/auth.ts';
import { BridgeHttp, type RequestOptions } from './transport/http.ts';

export interface LoginParams {
  bridgeUrl: string;
  solutionId: string;
  publicKey: string;
  /** Signs with the user's private key (which stays in the Connection). */
  sign(message: Uint8Array): Promise<Uint8Array>;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

export interface LoginSession {
  token: string;
  userId: string;
  contextIds: string[];
}

/** Logs in at `bridgeUrl`; fails with `AuthFailed` when the Bridge refuses. */
export async function logIn(p: LoginParams): Promise<LoginSession> {
  const options: RequestOptions = p.signal === undefined ? {} : { signal: p.signal };
  const http = new BridgeHttp(p.bridgeUrl, undefined, p.timeoutMs);
  const who = { solutionId: p.solutionId, publicKey: p.publicKey };
  const challenge = await http.request('POST', '/v1/auth/challenge', challengeResponseSchema, who, options);
  const timestamp = Date.now();
  const signature = await p.sign(authMessage(fromBase64(challenge.nonce), p.bridgeUrl, timestamp));
  const body = { ...who, nonce: challenge.nonce, timestamp, bridgeUrl: p.bridgeUrl, signature: toBase64(signature) };
  const session = await http.request('POST', '/v1/auth/session', sessionResponseSchema, body, options);
  return { token: session.token, userId: session.userId, contextIds: session.contextIds };
}
