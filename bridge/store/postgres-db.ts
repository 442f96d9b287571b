/**
 * The connection side of the PostgreSQL store (postgres.ts): a `pg` pool, one-statement queries, and
 * transactions, with every failure to reach the server turned into `StoreError('Unavailable')` so the
 * Bridge can answer 503 STORE_UNAVAILABLE instead of a 500 (docs/operations/postgres.md, "Faults").
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { StoreError } from './errors.ts';

/** A query runner: the pool (each statement its own transaction) or a client inside BEGIN ... COMMIT. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
}

export interface PostgresPoolOptions {
  /** `postgres://user:password@host:port/database` (libpq's URL form). */
  url: string;
  /** Connections at most; each Bridge holds its own pool. */
  maxConnections?: number;
  /** How long opening a connection may take before the operation fails as unavailable. Ms. */
  connectTimeoutMs?: number;
  /** How long one statement may run on the server before PostgreSQL cancels it. Ms. */
  statementTimeoutMs?: number;
  log?: Pick<Logger, 'warn' | 'debug'>;
}

/** BIGINT (times in ms, COUNT(*)) as a JS number: every value the store writes is below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 && format !== 'binary'
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/**
 * Errors that mean the server was not reached or the connection broke, not that the statement was
 * wrong: Node's socket errors, pg's own connection messages, SQLSTATE class 08 (connection exception)
 * and 57P01..57P03 (the server is shutting down or starting).
 */
export function isUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN)$/.test(code)) return true;
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03') return true;
  }
  const message = (error as { message?: unknown }).message;
  return typeof message === 'string' && /Connection terminated|connection timeout|timeout exceeded when trying to connect|not queryable/i.test(message);
}

/** `url` without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(an unparsable URL)';
  }
}

function unavailable(url: string, error: unknown): StoreError {
  const why = (error as { message?: string }).message ?? String(error);
  return new StoreError('Unavailable', `PostgreSQL at ${redactUrl(url)} cannot be reached: ${why}`, { cause: error });
}

export class PostgresDb implements Queryable {
  readonly pool: pg.Pool;
  readonly url: string;

  constructor(options: PostgresPoolOptions) {
    this.url = options.url;
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      statement_timeout: options.statementTimeoutMs ?? 30_000,
      types,
    });
    // An idle connection the server dropped (a restart, a network cut) is reported here; the pool
    // discards it and opens a new one on the next query. Without a listener it would crash the process.
    this.pool.on('error', (error) => options.log?.warn({ err: error }, 'PostgreSQL dropped an idle connection'));
  }

  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(sql, params);
    } catch (error) {
      throw isUnavailable(error) ? unavailable(this.url, error) : error;
    }
  }

  /** A connection of the pool for `use`, released afterwards (discarded if it broke). */
  async withClient<T>(use: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw isUnavailable(error) ? unavailable(this.url, error) : error;
    }
    // A checked-out connection that breaks between two statements (inside a transaction) emits
    // 'error' with no query to fail; the pool listens only while it is idle, and an unheard 'error'
    // would end the process. The next statement then fails, and the connection is discarded.
    let broken: Error | undefined;
    const onError = (error: Error) => {
      broken = error;
    };
    client.on('error', onError);
    try {
      return await use(client);
    } catch (error) {
      if (isUnavailable(error)) {
        broken = error as Error;
        throw unavailable(this.url, error);
      }
      throw error;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  /**
   * `work` inside one READ COMMITTED transaction, committed when it returns and rolled back when it
   * throws. The store's invariants rest on the row locks and unique keys `work` uses, not on a
   * stricter isolation level (postgres.ts explains which and why).
   */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.withClient(async (client) => {
      await client.query('BEGIN');
      try {
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        // A broken connection cannot roll back; the server aborts its transaction when it notices.
        if (!isUnavailable(error)) await client.query('ROLLBACK');
        throw error;
      }
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
