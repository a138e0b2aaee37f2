// The environment of a `sallyport serve` replica beside a harness broker: the same database,
// IdP, session secret and signing key, and the harness's public origin, so logins made through
// the harness (rows in the shared database) work on the replica too.
import type { ChildProcess } from 'node:child_process';
import { freePort } from '../../server/dev/index.js';
import { startTestBroker, type TestBroker } from './broker.js';
import { writeConsoleCatalog } from './console-catalog.js';
import { freshDatabase } from './postgres.js';
import { spawnCli, waitFor } from './process.js';

export function replicaEnv(h: TestBroker, o: { port: number; databaseUrl: string; catalog: string }, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: o.databaseUrl,
    HOST: '127.0.0.1',
    PORT: String(o.port),
    SALLYPORT_PUBLIC_URL: h.url,
    SALLYPORT_OIDC_ISSUER: h.idp.issuer,
    SALLYPORT_OIDC_CLIENT_ID: h.config.oidc.clientId,
    SALLYPORT_OIDC_CLIENT_SECRET: h.config.oidc.clientSecret,
    SALLYPORT_SESSION_SECRET: h.config.session.secret,
    SALLYPORT_SIGNING_KEY: JSON.stringify(h.config.signing.key),
    SALLYPORT_CATALOG: o.catalog,
    CONSOLE_GREETING: 'x',
    SALLYPORT_LOG_LEVEL: 'warn',
    // As the harness: a closed socket ends its console unless a test asks for a grace.
    SALLYPORT_REATTACH_SECONDS: String(h.config.consoles.reattachSeconds),
    ...extra,
  };
}

/**
 * A harness broker (IdP, logins) on a fresh database of its own, and one real `sallyport serve`
 * process beside it on the same database, ready: what an operator runs, with its memory and its
 * output apart from the test's. `stop()` ends both and drops the database.
 */
export async function startServeBeside(
  consoleImage: string,
  replicaExtra: Record<string, string> = {},
  nodeArgs: string[] = [],
  /** More of the replica's environment, from the harness (its secrets, say). */
  fromHarness: (h: TestBroker) => Record<string, string> = () => ({}),
): Promise<{
  h: TestBroker;
  child: ChildProcess;
  url: string;
  /** The last 4,000 characters the process wrote to stderr (its last words, if it died). */
  stderrTail(): string;
  stop(): Promise<void>;
}> {
  const catalog = writeConsoleCatalog(consoleImage);
  const tdb = await freshDatabase();
  const h = await startTestBroker({ SALLYPORT_CATALOG: catalog, CONSOLE_GREETING: 'x' }, { database: tdb });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawnCli(['serve'], replicaEnv(h, { port, databaseUrl: tdb.url, catalog }, { ...replicaExtra, ...fromHarness(h) }), nodeArgs);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const closed = new Promise((r) => child.once('close', r));
      child.kill('SIGTERM');
      await closed;
    }
    await h.close();
    await tdb.drop();
  };
  try {
    await waitFor('the serve process ready', async () => ((await fetch(`${url}/readyz`).catch(() => null))?.status === 200 ? true : undefined), 40_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { h, child, url, stderrTail: () => stderr, stop };
}
