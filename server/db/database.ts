// The pg pool and transactions: the only place a connection is opened. Repositories take a
// Queryable so the same function runs alone or inside a caller's transaction.
import pg from 'pg';
import { SallyportError } from '../errors.js';

/** Anything that runs one parameterised statement: the Database, or a client inside a transaction. */
export interface Queryable {
  query<R extends pg.QueryResultRow = any>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
}

export interface Database extends Queryable {
  readonly pool: pg.Pool;
  /** Runs fn in one transaction on one connection; rolls back if it throws. */
  transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

const AFTER_COMMIT = Symbol('sallyport.afterCommit');
type Committable = { [AFTER_COMMIT]?: Array<() => void> };

/**
 * Runs `cb` once what `q` wrote is committed: at the end of its transaction when `q` is one,
 * at once when it is not (a statement on its own commits by itself). Never after a rollback.
 * For what must only be said of stored facts (the security log line of an audit event).
 */
export function afterCommit(q: Queryable, cb: () => void): void {
  const queue = (q as Committable)[AFTER_COMMIT];
  if (queue) queue.push(cb);
  else cb();
}

export function openDatabase(url: string, options: { poolSize: number }): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its server must not crash the broker; the next query reports it.
  pool.on('error', () => {});
  // Nor may a checked-out one between two statements (inside a transaction, say): the pool
  // listens only to idle clients, and an 'error' nobody listens to is an uncaught exception —
  // seen when PostgreSQL is stopped (57P01, "terminating connection due to administrator
  // command"). The statement in flight, or the next one, fails with DB_UNAVAILABLE instead.
  pool.on('connect', (client) => client.on('error', () => {}));

  const query: Database['query'] = async (sql, params) => {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      throw wrap(err);
    }
    let failure: unknown;
    try {
      return await client.query(sql, params);
    } catch (err) {
      failure = err;
      throw wrap(err);
    } finally {
      client.release(connectionLost(failure) ? (failure as Error) : undefined);
    }
  };

  return {
    pool,
    query,
    async transaction(fn) {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw wrap(err);
      }
      let failure: unknown;
      try {
        await client.query('begin');
        const committed: Array<() => void> = [];
        (client as Committable)[AFTER_COMMIT] = committed;
        const result = await fn(client);
        await client.query('commit');
        delete (client as Committable)[AFTER_COMMIT];
        for (const cb of committed) {
          try {
            cb();
          } catch {
            // Committed is committed: a failing listener must not make it look rolled back.
          }
        }
        return result;
      } catch (err) {
        failure = err;
        delete (client as Committable)[AFTER_COMMIT];
        // Rolled back, the connection is as good as new whatever was thrown (an access decision,
        // a unique violation): keep it. Dropping it on every refused console cost a reconnect,
        // and on dev mode's single PGlite connection the reconnect raced the close ("the
        // database is unreachable" right after an SSH door refusal).
        if (!(await client.query('rollback').then(() => true, () => false)) && !connectionLost(failure)) failure = new Error('rollback failed');
        throw wrap(err);
      } finally {
        client.release(connectionLost(failure) ? (failure as Error) : undefined);
      }
    },
    async close() {
      await pool.end();
    },
  };
}

/**
 * Runs fn inside a savepoint of the caller's transaction: if it throws, only its writes are
 * undone and `undefined` is returned, so the rest of the transaction can still commit.
 */
export async function tryInSavepoint<T>(tx: Queryable, fn: () => Promise<T>): Promise<T | undefined> {
  await tx.query('savepoint sallyport_try');
  // What was written inside and rolled back is not committed: nor are its after-commit calls.
  const queue = (tx as Committable)[AFTER_COMMIT];
  const queued = queue?.length ?? 0;
  try {
    const result = await fn();
    await tx.query('release savepoint sallyport_try');
    return result;
  } catch {
    await tx.query('rollback to savepoint sallyport_try');
    queue?.splice(queued);
    return undefined;
  }
}

/**
 * A connection that answered with an SQL error (it has a SQLSTATE) is healthy and goes back to
 * the pool; pg-pool's default of discarding it would make PGlite, which accepts one connection,
 * refuse the replacement while the old one is still closing.
 */
/**
 * The connection itself failed (refused, reset, terminated, the server shutting down, a rollback
 * that did not go through): the pool must not hand it out again. Anything else thrown during a
 * statement or a transaction (SQL errors, the caller's own refusals) leaves it usable.
 */
/**
 * A server that may not be the primary any more: 25006 (read-only transaction: a connection that
 * reached a demoted server before the proxy in front moved on) and 57P01–57P03 (shut down, crash,
 * cannot connect now). node-postgres has no multi-host failover: such a connection is discarded,
 * and the next one goes through the proxy to whichever server is primary now.
 */
const NOT_PRIMARY = new Set(['25006', '57P01', '57P02', '57P03']);

function connectionLost(err: unknown): boolean {
  if (err === undefined) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (code.startsWith('08') || NOT_PRIMARY.has(code) || code.startsWith('57P') || /^E[A-Z]+$/.test(code))) return true;
  return /^(Connection terminated|timeout exceeded when trying to connect|Query read timeout|rollback failed)/.test(String((err as Error)?.message));
}

function wrap(err: unknown): unknown {
  const code = (err as { code?: string }).code;
  // Connection-level failures (refused, timeout, admin shutdown) mean the database is away;
  // SQL errors keep their own identity for the caller.
  if (
    (typeof code === 'string' && (code.startsWith('08') || NOT_PRIMARY.has(code) || code.startsWith('57P') || /^E[A-Z]+$/.test(code))) ||
    /^(Connection terminated|timeout exceeded when trying to connect)/.test(String((err as Error).message))
  ) {
    return new SallyportError('DB_UNAVAILABLE', 'the database is unreachable', { cause: err });
  }
  return err;
}
