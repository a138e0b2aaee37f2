// The environment of a `sallyport serve` replica beside a harness broker: the same database,
// IdP, session secret and signing key, and the harness's public origin, so logins made through
// the harness (rows in the shared database) work on the replica too.
import type { TestBroker } from './broker.js';

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
    ...extra,
  };
}
