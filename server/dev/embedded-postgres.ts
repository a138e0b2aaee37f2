// Embedded PostgreSQL for dev mode: PGlite (real Postgres compiled to WASM) served over the
// wire protocol on loopback, so the broker's ordinary `pg` code runs against it unchanged.
// PGlite has a single session, hence the broker's pool of one in dev mode.
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { freePort } from './free-port.js';

export interface EmbeddedPostgres {
  readonly url: string;
  close(): Promise<void>;
}

/** dataDir undefined keeps the database in memory (tests). */
export async function startEmbeddedPostgres(dataDir: string | undefined): Promise<EmbeddedPostgres> {
  // pg_trgm: recording search uses trigram indexes (migration 009), as on real PostgreSQL.
  const db = await PGlite.create({ ...(dataDir ? { dataDir } : {}), extensions: { pg_trgm } });
  const port = await freePort();
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port, maxConnections: 1 });
  await server.start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async close() {
      await server.stop();
      await db.close();
    },
  };
}
