// The broker's evidence signing key: Ed25519 (JWS alg EdDSA) via jose. It signs audit
// checkpoints; its public half, with the previous keys kept for old checkpoints, is published
// as a JWKS so anyone can verify without trusting the database.
import { calculateJwkThumbprint, CompactSign, compactVerify, createLocalJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { SallyportError } from '../errors.js';

export interface Jwks {
  keys: JWK[];
}

export interface Signer {
  readonly kid: string;
  /** Compact JWS over the canonical JSON payload, with kid in the protected header. */
  sign(payload: string): Promise<string>;
  /** The public keys a verifier needs: the current one first, then the previous ones. */
  jwks(): Jwks;
}

export function publicJwk(jwk: JWK): JWK {
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, kid: jwk.kid, alg: 'EdDSA', use: 'sig' };
}

export async function createSigner(privateJwk: JWK, previous: readonly JWK[] = []): Promise<Signer> {
  const key = await importJWK({ ...privateJwk, alg: 'EdDSA' }, 'EdDSA');
  const kid = privateJwk.kid!;
  const keys = [publicJwk(privateJwk), ...previous.filter((k) => k.kid !== kid).map(publicJwk)];
  return {
    kid,
    sign: (payload) => new CompactSign(new TextEncoder().encode(payload)).setProtectedHeader({ alg: 'EdDSA', kid, typ: 'sallyport-checkpoint+jws' }).sign(key),
    jwks: () => ({ keys: keys.map((k) => ({ ...k })) }),
  };
}

/** RFC 7638 thumbprint (SHA-256, base64url): what an auditor compares with the broker's published key. */
export function keyThumbprint(jwk: JWK): Promise<string> {
  return calculateJwkThumbprint({ kty: jwk.kty, crv: jwk.crv, x: jwk.x } as JWK, 'sha256');
}

/**
 * Verifies a compact JWS against a JWKS (EdDSA only); returns the payload text, the key id and the
 * thumbprint of the key that verified it.
 */
export async function verifyJws(jws: string, jwks: Jwks): Promise<{ payload: string; kid: string; thumbprint: string }> {
  try {
    const { payload, protectedHeader } = await compactVerify(jws, createLocalJWKSet(jwks), { algorithms: ['EdDSA'] });
    const kid = protectedHeader.kid ?? decodeProtectedHeader(jws).kid ?? '';
    const key = jwks.keys.find((k) => k.kid === kid) ?? jwks.keys[0]!;
    return { payload: new TextDecoder().decode(payload), kid, thumbprint: await keyThumbprint(key) };
  } catch (err) {
    throw new SallyportError('SIGNATURE_INVALID', `signature does not verify: ${(err as Error).message}`, { cause: err });
  }
}

/** A new private signing key as a JWK (what `sallyport signing-key new` prints). */
export async function generateSigningKey(kid: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: 'EdDSA', use: 'sig' };
}
