// The development identity provider: a real OpenID Provider (oidc-provider) with demo users,
// used only by `sallyport dev` and by the tests. Production never imports this file. The
// broker talks to it through the same OIDC code path it uses for a company IdP.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { type Configuration, type JWK } from 'oidc-provider';
import { escapeHtml } from '../html.js';
import { PAGE_CSS } from '../http/page-style.js';

export interface DevUser {
  username: string;
  password: string;
  name: string;
  email: string;
  groups: string[];
}

export interface DevIdpOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** The broker's public origin; its /auth/callback is the only redirect URI. */
  brokerUrl: string;
  clientId: string;
  clientSecret: string;
  users: DevUser[];
  /** Private RSA signing key as a JWK (persisted by dev mode so restarts keep sessions valid). */
  signingKey: JWK;
  cookieKeys: string[];
  /** ID token lifetime in seconds. */
  idTokenTtl?: number;
}

export interface DevIdp {
  readonly issuer: string;
  readonly provider: Provider;
  close(): Promise<void>;
}

export async function startDevIdp(options: DevIdpOptions): Promise<DevIdp> {
  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const issuer = `http://${options.host}:${port}`;
  const users = new Map(options.users.map((u) => [u.username, u]));

  const configuration: Configuration = {
    clients: [
      {
        client_id: options.clientId,
        client_secret: options.clientSecret,
        redirect_uris: [`${options.brokerUrl}/auth/callback`],
        post_logout_redirect_uris: [`${options.brokerUrl}/auth/logged-out`],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'RS256',
        // As company IdPs do: every ID token says when the user last authenticated.
        require_auth_time: true,
      },
    ],
    jwks: { keys: [options.signingKey] },
    cookies: { keys: options.cookieKeys },
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email'],
      groups: ['groups'],
    },
    scopes: ['openid', 'profile', 'email', 'groups'],
    // Put profile and group claims in the ID token as most company IdPs are configured to.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    ttl: { IdToken: options.idTokenTtl ?? 3600, AccessToken: 3600, Session: 86400, Interaction: 600, Grant: 86400 },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.body = html(
            'Sign out',
            `<h1>Sign out of the Sallyport dev IdP?</h1>${form}
             <button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
             <button type="submit" form="op.logoutForm">No, stay signed in</button>`,
          );
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.body = html('Signed out', '<h1>You are signed out of the dev IdP.</h1>');
        },
      },
    },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = html('Error', `<h1>Dev IdP error</h1><pre>${escapeHtml(JSON.stringify(out, null, 2))}</pre>`);
    },
    findAccount: async (_ctx, sub) => {
      const u = users.get(sub);
      if (!u) return undefined;
      return {
        accountId: sub,
        claims: async () => ({ sub, preferred_username: u.username, name: u.name, email: u.email, groups: u.groups }),
      };
    },
    // The broker is a first-party client: consent is implied, as with a company IdP.
    loadExistingGrant: async (ctx) => {
      const grantId = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
      if (grantId) {
        const existing = await ctx.oidc.provider.Grant.find(grantId);
        if (existing) return existing;
      }
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId! });
      grant.addOIDCScope('openid profile email groups');
      await grant.save();
      return grant;
    },
    interactions: { url: async (_ctx, interaction) => `/interaction/${interaction.uid}` },
    // Kept in this process on purpose: the dev IdP's logins need not outlive it. Named, so the
    // provider does not warn an operator running `sallyport dev` to replace its built-in one.
    adapter: memoryAdapter(),
  };

  const provider = new Provider(issuer, configuration);
  // Plain http on loopback: tell the provider not to insist on TLS for its own cookies.
  provider.proxy = false;

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?')[0]!;
    if (path === '/page.css') {
      res.setHeader('content-type', 'text/css; charset=utf-8');
      res.end(PAGE_CSS);
      return;
    }
    if (path.startsWith('/interaction/')) {
      void handleInteraction(provider, users, req, res).catch((err: unknown) => {
        res.statusCode = 500;
        res.end(html('Error', `<p>${escapeHtml(String((err as Error).message))}</p>`));
      });
      return;
    }
    // Composed per request so middleware added with provider.use() after start applies.
    provider.callback()(req, res);
  });

  return {
    issuer,
    provider,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function handleInteraction(provider: Provider, users: Map<string, DevUser>, req: IncomingMessage, res: ServerResponse) {
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'GET') {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(loginForm(details.uid, details.params.client_id as string, null));
    return;
  }
  const body = new URLSearchParams(await readBody(req));
  const username = body.get('username') ?? '';
  const password = body.get('password') ?? '';
  const user = users.get(username);
  if (!user || !equal(user.password, password)) {
    res.statusCode = 401;
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(loginForm(details.uid, details.params.client_id as string, 'Unknown user or wrong password.'));
    return;
  }
  await provider.interactionFinished(req, res, { login: { accountId: user.username } }, { mergeWithLastSubmission: false });
}

function loginForm(uid: string, clientId: string, error: string | null): string {
  return html(
    'Sign in',
    `<h1>Sign in</h1>
     <p class="meta">Sallyport's development identity provider, signing in to <code>${escapeHtml(clientId)}</code>. The demo users and their passwords are printed by <code>sallyport dev</code>; a deployment uses the company's IdP instead.</p>
     ${error ? `<p role="alert" id="login-error">${escapeHtml(error)}</p>` : ''}
     <form method="post" action="/interaction/${escapeHtml(uid)}">
       <label>Username <input name="username" id="username" autocomplete="username" required autofocus></label>
       <label>Password <input name="password" id="password" type="password" autocomplete="current-password" required></label>
       <button type="submit" id="sign-in">Sign in</button>
     </form>`,
  );
}

function html(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · Sallyport dev IdP</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="stylesheet" href="/page.css"></head>
<body><header>Sallyport dev IdP</header><main>${body}</main></body></html>`;
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 16 * 1024) throw new Error('request too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function randomPassword(): string {
  return randomBytes(12).toString('base64url');
}

/**
 * oidc-provider's storage for the dev IdP: one Map per model and provider, in memory, expired
 * entries swept as new ones come. What a real IdP keeps in a database; here a restart logs
 * everyone out, as it should.
 */
function memoryAdapter() {
  type Entry = { payload: Record<string, unknown>; expiresAt: number };
  const stores = new Map<string, Map<string, Entry>>();
  return class MemoryAdapter {
    private readonly store: Map<string, Entry>;

    constructor(name: string) {
      let store = stores.get(name);
      if (!store) stores.set(name, (store = new Map()));
      this.store = store;
    }

    async upsert(id: string, payload: Record<string, unknown>, expiresIn: number): Promise<void> {
      const now = Date.now();
      for (const [k, e] of this.store) if (e.expiresAt <= now) this.store.delete(k);
      this.store.set(id, { payload, expiresAt: now + expiresIn * 1000 });
    }

    async find(id: string): Promise<Record<string, unknown> | undefined> {
      const e = this.store.get(id);
      return e && e.expiresAt > Date.now() ? e.payload : undefined;
    }

    async findByUid(uid: string): Promise<Record<string, unknown> | undefined> {
      for (const [id, e] of this.store) if (e.payload.uid === uid) return this.find(id);
      return undefined;
    }

    async findByUserCode(userCode: string): Promise<Record<string, unknown> | undefined> {
      for (const [id, e] of this.store) if (e.payload.userCode === userCode) return this.find(id);
      return undefined;
    }

    async consume(id: string): Promise<void> {
      const e = this.store.get(id);
      if (e) e.payload.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id: string): Promise<void> {
      this.store.delete(id);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      for (const [id, e] of this.store) if (e.payload.grantId === grantId) this.store.delete(id);
    }
  };
}
