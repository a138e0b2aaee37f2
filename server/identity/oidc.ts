// The OIDC relying party: authorization code flow with PKCE (S256), state and nonce, ID-token
// checks (iss, aud, exp, nonce, pinned alg) done by openid-client, a certified library.
// Discovery is lazy and retried, so an IdP that is down at start does not stop the broker.
import * as oidc from 'openid-client';
import type { Config } from '../config/index.js';
import { SallyportError } from '../errors.js';

export interface AuthorizationRequest {
  url: string;
  state: string;
  nonce: string;
  codeVerifier: string;
}

export interface VerifiedLogin {
  claims: Record<string, unknown>;
  subject: string;
  /** When the IdP last authenticated the user; the epoch when the IdP did not say (never "recent"). */
  authTime: Date;
}

export interface RelyingParty {
  /** `loginHint`: the user a step-up is for, so the IdP asks for that account's password. */
  authorizationRequest(options?: { maxAgeSeconds?: number; loginHint?: string }): Promise<AuthorizationRequest>;
  /** Validates the callback against what we sent; throws LOGIN_FAILED with the reason. */
  exchange(callbackUrl: URL, expected: { state: string; nonce: string; codeVerifier: string; maxAge: number | null }): Promise<VerifiedLogin>;
  endSessionUrl(postLogoutRedirect: string): Promise<string | null>;
}

export function createRelyingParty(config: Config): RelyingParty {
  let configuration: Promise<oidc.Configuration> | undefined;
  const redirectUri = `${config.publicUrl}/auth/callback`;

  const discover = (): Promise<oidc.Configuration> => {
    configuration ??= oidc
      .discovery(
        new URL(config.oidc.issuer),
        config.oidc.clientId,
        { id_token_signed_response_alg: config.oidc.idTokenAlg },
        oidc.ClientSecretBasic(config.oidc.clientSecret),
        { execute: config.oidc.allowHttpIssuer ? [oidc.allowInsecureRequests] : [], timeout: 5 },
      )
      .catch((err: unknown) => {
        configuration = undefined;
        throw new SallyportError('IDP_UNAVAILABLE', `the identity provider at ${config.oidc.issuer} cannot be reached`, {
          cause: err,
        });
      });
    return configuration;
  };

  return {
    async authorizationRequest(options = {}) {
      const c = await discover();
      const codeVerifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const params: Record<string, string> = {
        redirect_uri: redirectUri,
        scope: config.oidc.scopes.join(' '),
        response_type: 'code',
        code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      };
      if (options.maxAgeSeconds !== undefined) params.max_age = String(options.maxAgeSeconds);
      if (options.loginHint) params.login_hint = options.loginHint;
      return { url: oidc.buildAuthorizationUrl(c, params).href, state, nonce, codeVerifier };
    },

    async exchange(callbackUrl, expected) {
      const c = await discover();
      let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
      try {
        tokens = await oidc.authorizationCodeGrant(c, callbackUrl, {
          pkceCodeVerifier: expected.codeVerifier,
          expectedState: expected.state,
          expectedNonce: expected.nonce,
          // A step-up login must carry auth_time within max_age; openid-client checks both.
          ...(expected.maxAge !== null ? { maxAge: expected.maxAge } : {}),
          idTokenExpected: true,
        });
      } catch (err) {
        throw new SallyportError('LOGIN_FAILED', describeOidcError(err), { cause: err });
      }
      const idClaims = tokens.claims();
      if (!idClaims) throw new SallyportError('LOGIN_FAILED', 'the identity provider returned no ID token');
      let claims: Record<string, unknown> = { ...idClaims };
      // Many IdPs put profile and group claims only in userinfo; ask for them, bound to the
      // ID token's subject so a different user's data cannot be mixed in.
      if (claims[config.oidc.groupsClaim] === undefined && tokens.access_token && c.serverMetadata().userinfo_endpoint) {
        try {
          const info = await oidc.fetchUserInfo(c, tokens.access_token, idClaims.sub);
          claims = { ...info, ...idClaims };
        } catch (err) {
          throw new SallyportError('LOGIN_FAILED', `userinfo request failed: ${describeOidcError(err)}`, { cause: err });
        }
      }
      // Without auth_time we cannot know how fresh the login is: treat it as old, so a decision
      // that needs a recent login always sends the user through a max_age login first.
      const authTime = typeof idClaims.auth_time === 'number' ? new Date(idClaims.auth_time * 1000) : new Date(0);
      return { claims, subject: idClaims.sub, authTime };
    },

    async endSessionUrl(postLogoutRedirect) {
      let c: oidc.Configuration;
      try {
        c = await discover();
      } catch {
        return null;
      }
      if (!c.serverMetadata().end_session_endpoint) return null;
      return oidc
        .buildEndSessionUrl(c, { client_id: config.oidc.clientId, post_logout_redirect_uri: postLogoutRedirect })
        .toString();
    },
  };
}

/** A short, secret-free reason for the audit log and the user. */
function describeOidcError(err: unknown): string {
  const e = err as { code?: string; message?: string; error?: string; error_description?: string };
  if (e.error) return `identity provider refused: ${e.error}${e.error_description ? ` (${e.error_description})` : ''}`;
  // oauth4webapi puts the specific reason ("unexpected JWT iss", "state mismatch") in the cause.
  const parts: string[] = [];
  for (let c: unknown = err, depth = 0; c && depth < 4; c = (c as { cause?: unknown }).cause, depth++) {
    const m = (c as { message?: unknown }).message;
    if (typeof m === 'string' && m && !parts.includes(m)) parts.push(m);
  }
  const msg = (parts.join(': ') || String(err)).slice(0, 300);
  return e.code ? `${e.code}: ${msg}` : msg;
}
