/**
 * Login by challenge-response and session tokens (docs/design.md, "Identities"; docs/security/login.md).
 * Challenges are stateless MAC'd nonces (challenge-nonce.ts) that become single use when a login
 * succeeds; tokens are random, stored hashed, expire, and can be revoked. Failed logins are limited per
 * (address, key) pair and per address without one blocking the other (login-limiter.ts). The signed
 * Bridge URL is checked against the Bridge's own configuration only (login-origins.ts).
 */
import { randomBytes } from 'node:crypto';
import { fromBase64, toBase64 } from '../../crypto/bytes.ts';
import { decodePublicKey, verify } from '../../crypto/identity.ts';
import type { ChallengeRequest, ChallengeResponse, SessionRequest, SessionResponse } from '../../protocol/api.ts';
import { authMessage, bridgeOrigin } from '../../protocol/auth.ts';
import { BridgeError } from '../errors.ts';
import { hashSecret, newSecret } from '../ids.ts';
import type { BridgeServices } from '../services.ts';
import type { SessionRow } from '../store/types.ts';
import { CHALLENGE_SECRET_BYTES, CHALLENGE_SECRET_NAME, ChallengeNonces } from './challenge-nonce.ts';
import { LoginLimiter } from './login-limiter.ts';
import { SharedLimits } from './shared-rate-limit.ts';

/** Sessions kept in memory after a lookup, at most (a lookup per request showed in the profile). */
const SESSION_CACHE_ENTRIES = 10_000;
/**
 * On a store several Bridges share (PostgreSQL), a session another Bridge ended sends no event here, so
 * a cached session is read again after this long (docs/operations/postgres.md). Milliseconds.
 */
const SHARED_STORE_SESSION_RECHECK_MS = 1000;

export class AuthService {
  /**
   * Recently used sessions by token hash. Every way a session ends on this Bridge (logout, a user or
   * context removed, a solution deleted) goes through the `sessionsEnded` event, which evicts here; and
   * expiry is checked on every hit. On a shared store an entry also lives at most
   * SHARED_STORE_SESSION_RECHECK_MS.
   */
  readonly #sessions = new Map<string, { session: SessionRow; cachedAt: number }>();
  /** Totals since start, for /metrics. */
  readonly counters = { logins: 0, loginFailures: 0, loginRateLimited: 0, loginLimitFallbacks: 0 };
  readonly #failures: LoginLimiter;
  readonly #nonces: ChallengeNonces;
  /** Origins a login may sign; set once the Bridge knows the address it listens on. */
  #origins: ReadonlySet<string> = new Set();

  /** Loads (or creates) the challenge secret shared by every Bridge on this store. */
  static async open(s: BridgeServices): Promise<AuthService> {
    const secret = await s.store.bridgeSecret(CHALLENGE_SECRET_NAME, randomBytes(CHALLENGE_SECRET_BYTES), s.now());
    return new AuthService(s, new ChallengeNonces(secret));
  }

  private constructor(
    private readonly s: BridgeServices,
    nonces: ChallengeNonces,
  ) {
    this.#nonces = nonces;
    this.#failures = new LoginLimiter({
      failuresPerPair: s.config.limits.loginFailuresPerKey,
      failuresPerAddress: s.config.limits.loginFailuresPerAddress,
      windowMs: s.config.limits.loginWindowSeconds * 1000,
      now: s.now,
      // Counted across the Bridges on a shared store (docs/operations/limits.md, "Across Bridges").
      shared: new SharedLimits(s.store.rateWindows, s.log, () => this.counters.loginLimitFallbacks++),
    });
    s.events.on('sessionsEnded', ({ tokenHashes }) => {
      for (const hash of tokenHashes) this.#sessions.delete(hash);
    });
  }

  /** The Bridge URL origins a login may sign (login-origins.ts). */
  setLoginOrigins(origins: readonly string[]): void {
    this.#origins = new Set(origins);
  }

  get loginOrigins(): string[] {
    return [...this.#origins];
  }

  async challenge(request: ChallengeRequest): Promise<ChallengeResponse> {
    if ((await this.s.store.getSolution(request.solutionId)) === undefined) {
      throw BridgeError.notFound('SOLUTION_NOT_FOUND', `solution "${request.solutionId}" does not exist`);
    }
    const expiresAt = this.s.now() + this.s.config.nonceTtlSeconds * 1000;
    return { nonce: toBase64(this.#nonces.issue(request.solutionId, request.publicKey, expiresAt)), expiresAt };
  }

  /** Checks a signed challenge and opens a session. `address` is the client's (req.ip). */
  async login(request: SessionRequest, address: string): Promise<SessionResponse> {
    const { retryAfter: wait, failedBefore } = await this.#failures.check(address, request.publicKey);
    if (wait > 0) {
      this.counters.loginRateLimited++;
      throw new BridgeError('RATE_LIMITED', `too many failed logins for this key from this address; retry in ${wait} s`, { retryAfter: wait });
    }
    try {
      const session = await this.#checkLogin(request);
      this.counters.logins++;
      await this.#failures.succeeded(address, request.publicKey, failedBefore);
      return session;
    } catch (error) {
      if (error instanceof BridgeError && error.code === 'AUTH_FAILED') {
        await this.#failures.failed(address, request.publicKey);
        this.counters.loginFailures++;
        // The precise reason (kept from the client where it would tell who is registered, or this
        // Bridge's addresses) is the error's cause.
        const reason = typeof error.cause === 'string' ? error.cause : error.message;
        this.s.log.info({ solutionId: request.solutionId, address, reason }, 'login failed');
      }
      throw error;
    }
  }

  async #checkLogin(request: SessionRequest): Promise<SessionResponse> {
    const now = this.s.now();
    const fail = (message: string, reason?: string) => new BridgeError('AUTH_FAILED', message, reason === undefined ? undefined : { cause: reason });
    const nonce = fromBase64(request.nonce);
    const issued = this.#nonces.check(nonce, request.solutionId, request.publicKey, now);
    if (!issued.ok) {
      throw fail(
        issued.reason === 'expired'
          ? 'login failed: the challenge nonce is unknown, used or expired'
          : 'login failed: the challenge nonce was not issued by this Bridge for this solution and key',
      );
    }
    const skewMs = this.s.config.authClockSkewSeconds * 1000;
    if (Math.abs(request.timestamp - now) > skewMs) {
      throw fail(`login failed: the signed timestamp is more than ${this.s.config.authClockSkewSeconds} s from the Bridge's clock`);
    }
    if (!this.#origins.has(bridgeOrigin(request.bridgeUrl))) {
      // Which URLs it is goes to the log only: with a wildcard bind they are every interface address.
      throw fail(
        "login failed: the signed Bridge URL is not this Bridge's (its log names the URLs it takes)",
        `the signed Bridge URL ${request.bridgeUrl} is none of ${[...this.#origins].join(', ')}`,
      );
    }
    const user = await this.s.store.findSolutionUser(request.solutionId, request.publicKey);
    // One answer for both, so a login does not tell whether a key is registered in the solution.
    const refused = 'login failed: this key is not a user of the solution, or the signature does not verify';
    const message = authMessage(nonce, request.bridgeUrl, request.timestamp);
    // An unknown key is verified too (and its answer dropped), so the answer's time does not tell either.
    const verified = await verify(fromBase64(request.signature), message, decodePublicKey(request.publicKey));
    if (user === undefined) throw fail(refused, 'the public key is not a user of any context of the solution');
    if (!verified) throw fail(refused, 'the signature does not verify');
    const token = newSecret('srt_');
    const expiresAt = now + this.s.config.sessionTtlSeconds * 1000;
    // The nonce's single use and the session are one durable write (one fsync to wait for, not two).
    // The user is checked again in the session's write: a removal since the check above is seen there.
    const started = await this.s.store.startSession(
      { nonce: request.nonce, solutionId: request.solutionId, publicKey: request.publicKey, expiresAt: issued.expiresAt },
      { tokenHash: hashSecret(token), solutionId: request.solutionId, publicKey: request.publicKey, userId: user.userId, createdAt: now, expiresAt },
      { requireUser: true },
    );
    if (!started) {
      if ((await this.s.store.findSolutionUser(request.solutionId, request.publicKey)) === undefined) {
        throw fail(refused, 'the public key was removed from the solution during the login');
      }
      throw fail('login failed: the challenge nonce is unknown, used or expired');
    }
    return { token, expiresAt, userId: user.userId, solutionId: request.solutionId, contextIds: user.contextIds };
  }

  /** The live session of a bearer token, or 401. */
  async authenticate(token: string | undefined): Promise<SessionRow> {
    if (token === undefined || !token.startsWith('srt_') || token.length > 100) throw BridgeError.unauthenticated();
    const tokenHash = hashSecret(token);
    const now = this.s.now();
    const cached = this.#sessions.get(tokenHash);
    const fresh = cached !== undefined && (this.s.store.kind === 'sqlite' || now - cached.cachedAt < SHARED_STORE_SESSION_RECHECK_MS);
    if (cached !== undefined && fresh && cached.session.expiresAt > now) return cached.session;
    this.#sessions.delete(tokenHash);
    const session = await this.s.store.findSession(tokenHash, now);
    if (session === undefined) throw BridgeError.unauthenticated('the session token is unknown, expired or revoked');
    if (this.#sessions.size >= SESSION_CACHE_ENTRIES) this.#sessions.delete(this.#sessions.keys().next().value as string);
    this.#sessions.set(tokenHash, { session, cachedAt: now });
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
