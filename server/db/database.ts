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

export function openDatabase(url: string, options: { poolSize: number }): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its server must not crash the broker; the next query reports it.
  pool.on('error', () => {});

  const query: Database['query'] = async (sql, params) => {
    try {
      return await pool.query(sql, params);
    } catch (err) {
      throw wrap(err);
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
      try {
        await client.query('begin');
        const result = await fn(client);
        await client.query('commit');
        return result;
      } catch (err) {
        await client.query('rollback').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },
    async close() {
      await pool.end();
    },
  };
}

function wrap(err: unknown): unknown {
  const code = (err as { code?: string }).code;
  // Connection-level failures (refused, timeout, admin shutdown) mean the database is away;
  // SQL errors keep their own identity for the caller.
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === '57P01' || /timeout|terminated|Connection/i.test(String((err as Error).message))) {
    return new SallyportError('DB_UNAVAILABLE', 'the database is unreachable', { cause: err });
  }
  return err;
}
