/**
 * Login by challenge-response and session tokens (DESIGN.md, "Identities"). Nonces are single use and
 * expire; tokens are random, stored hashed, expire, and can be revoked. Failed logins are rate-limited
 * per client address and per public key.
 */
import { fromBase64, toBase64 } from '../../crypto/bytes.ts';
import { decodePublicKey, verify } from '../../crypto/identity.ts';
import type { ChallengeRequest, ChallengeResponse, SessionRequest, SessionResponse } from '../../protocol/api.ts';
import { AUTH_NONCE_BYTES, authMessage, bridgeOrigin } from '../../protocol/auth.ts';
import { HttpError } from '../http/errors.ts';
import { hashSecret, newSecret } from '../ids.ts';
import type { BridgeServices } from '../services.ts';
import type { SessionRow } from '../store/types.ts';
import { RateLimiter } from './rate-limit.ts';
import { randomBytes } from 'node:crypto';

/** Sessions kept in memory after a lookup, at most (a lookup per request showed in the profile). */
const SESSION_CACHE_ENTRIES = 10_000;

export class AuthService {
  /**
   * Recently used sessions by token hash. Every way a session ends on this Bridge (logout, a user or
   * context removed, a solution deleted) goes through the `sessionsEnded` event, which evicts here; and
   * expiry is checked on every hit. A multi-node store would need a short lifetime here instead.
   */
  private readonly sessions = new Map<string, SessionRow>();
  private readonly failuresByAddress: RateLimiter;
  private readonly failuresByKey: RateLimiter;
  private readonly challengesByAddress: RateLimiter;

  constructor(private readonly s: BridgeServices) {
    const windowMs = s.config.limits.loginWindowSeconds * 1000;
    this.failuresByAddress = new RateLimiter({ limit: s.config.limits.loginFailuresPerAddress, windowMs, now: s.now });
    this.failuresByKey = new RateLimiter({ limit: s.config.limits.loginFailuresPerKey, windowMs, now: s.now });
    this.challengesByAddress = new RateLimiter({ limit: s.config.limits.challenges, windowMs, now: s.now });
    s.events.on('sessionsEnded', ({ tokenHashes }) => {
      for (const hash of tokenHashes) this.sessions.delete(hash);
    });
  }

  private limited(retryAfter: number, what: string): HttpError {
    return new HttpError(429, 'RATE_LIMITED', `too many ${what}; retry in ${retryAfter} s`, { retryAfter });
  }

  async challenge(request: ChallengeRequest, address: string): Promise<ChallengeResponse> {
    const wait = this.challengesByAddress.retryAfter(address);
    if (wait > 0) throw this.limited(wait, 'login challenges from this address');
    this.challengesByAddress.hit(address);
    if ((await this.s.store.getSolution(request.solutionId)) === undefined) {
      throw HttpError.notFound('SOLUTION_NOT_FOUND', `solution "${request.solutionId}" does not exist`);
    }
    const nonce = toBase64(randomBytes(AUTH_NONCE_BYTES));
    const expiresAt = this.s.now() + this.s.config.nonceTtlSeconds * 1000;
    await this.s.store.insertNonce({ nonce, solutionId: request.solutionId, publicKey: request.publicKey, expiresAt });
    return { nonce, expiresAt };
  }

  /**
   * Checks a signed challenge and opens a session. `requestUrl` is the URL the request was made to; it
   * is the accepted login URL unless the Bridge is configured with a public URL.
   */
  async login(request: SessionRequest, address: string, requestUrl: string): Promise<SessionResponse> {
    const wait = Math.max(this.failuresByAddress.retryAfter(address), this.failuresByKey.retryAfter(request.publicKey));
    if (wait > 0) throw this.limited(wait, 'failed logins');
    try {
      const session = await this.checkLogin(request, requestUrl);
      this.failuresByKey.reset(request.publicKey);
      return session;
    } catch (error) {
      if (error instanceof HttpError && error.code === 'AUTH_FAILED') {
        this.failuresByAddress.hit(address);
        this.failuresByKey.hit(request.publicKey);
        this.s.log.info({ solutionId: request.solutionId, address, reason: error.message }, 'login failed');
      }
      throw error;
    }
  }

  private async checkLogin(request: SessionRequest, requestUrl: string): Promise<SessionResponse> {
    const now = this.s.now();
    const fail = (message: string) => new HttpError(401, 'AUTH_FAILED', message);
    const nonce = await this.s.store.consumeNonce(request.nonce, now);
    if (nonce === undefined) throw fail('login failed: the challenge nonce is unknown, used or expired');
    if (nonce.solutionId !== request.solutionId || nonce.publicKey !== request.publicKey) {
      throw fail('login failed: the challenge was issued for another solution or key');
    }
    const skewMs = this.s.config.authClockSkewSeconds * 1000;
    if (Math.abs(request.timestamp - now) > skewMs) {
      throw fail(`login failed: the signed timestamp is more than ${this.s.config.authClockSkewSeconds} s from the Bridge's clock`);
    }
    const expected = bridgeOrigin(this.s.config.publicUrl ?? requestUrl);
    if (bridgeOrigin(request.bridgeUrl) !== expected) {
      throw fail(`login failed: the signed Bridge URL is not this Bridge (${expected})`);
    }
    const message = authMessage(fromBase64(request.nonce), request.bridgeUrl, request.timestamp);
    if (!(await verify(fromBase64(request.signature), message, decodePublicKey(request.publicKey)))) {
      throw fail('login failed: the signature does not verify');
    }
    const user = await this.s.store.findSolutionUser(request.solutionId, request.publicKey);
    if (user === undefined) throw fail('login failed: this public key is not a user of any context of the solution');

    const token = newSecret('srt_');
    const expiresAt = now + this.s.config.sessionTtlSeconds * 1000;
    await this.s.store.insertSession({
      tokenHash: hashSecret(token),
      solutionId: request.solutionId,
      publicKey: request.publicKey,
      userId: user.userId,
      createdAt: now,
      expiresAt,
    });
    return { token, expiresAt, userId: user.userId, solutionId: request.solutionId, contextIds: user.contextIds };
  }

  /** The live session of a bearer token, or 401. */
  async authenticate(token: string | undefined): Promise<SessionRow> {
    if (token === undefined || !token.startsWith('srt_') || token.length > 100) throw HttpError.unauthenticated();
    const tokenHash = hashSecret(token);
    const now = this.s.now();
    const cached = this.sessions.get(tokenHash);
    if (cached !== undefined && cached.expiresAt > now) return cached;
    this.sessions.delete(tokenHash);
    const session = await this.s.store.findSession(tokenHash, now);
    if (session === undefined) throw HttpError.unauthenticated('the session token is unknown, expired or revoked');
    if (this.sessions.size >= SESSION_CACHE_ENTRIES) this.sessions.delete(this.sessions.keys().next().value as string);
    this.sessions.set(tokenHash, session);
    return session;
  }

  async logout(session: SessionRow): Promise<void> {
    await this.s.store.deleteSession(session.tokenHash);
    this.s.events.emit('sessionsEnded', { tokenHashes: [session.tokenHash], reason: 'logout' });
  }
}

/** The bearer token of an `Authorization: Bearer ...` header. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer ([A-Za-z0-9_-]{1,200})$/.exec(header.trim());
  return match?.[1];
}
