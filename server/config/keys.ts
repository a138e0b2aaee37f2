// The Ed25519 evidence keys from the environment: the broker's private signing key and the
// public keys of earlier ones (rotation); the verifier's public keys from the same variables.
import { SallyportError } from '../errors.js';
import { ed25519FromLine, parsePrivateKeyFile, publicKeyLine } from '../signing/index.js';
import { createReader, parseJson, type Env, type Reader } from './reader.js';

/**
 * An Ed25519 JWK: private (with d) for the signing key, public only for previous keys. Never
 * echoes the value: it is a secret.
 */
export function ed25519Jwk(
  name: string,
  text: string,
  isPrivate: boolean,
  bad: (field: string, message: string) => void,
): Record<string, string> | undefined {
  if (text === '') return undefined;
  const jwk = parseJson(text) as Record<string, unknown> | undefined;
  const str = (k: string) => (typeof jwk?.[k] === 'string' && (jwk[k] as string).length > 0 ? (jwk[k] as string) : undefined);
  const create = isPrivate ? ' (create one with `sallyport signing-key new KID`)' : '';
  if (!jwk || typeof jwk !== 'object' || jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || !str('x')) {
    bad(name, `must be an Ed25519 JWK (kty OKP, crv Ed25519)${create}`);
    return undefined;
  }
  if (!str('kid') || !/^[A-Za-z0-9._-]{1,64}$/.test(str('kid')!)) {
    bad(name, 'must have a kid of 1-64 letters, digits, dots, dashes or underscores');
    return undefined;
  }
  if (isPrivate && !str('d')) {
    bad(name, 'must be the private key (with "d")');
    return undefined;
  }
  if (!isPrivate && jwk.d !== undefined) {
    bad(name, 'must hold public keys only (remove "d")');
    return undefined;
  }
  const out: Record<string, string> = { kty: 'OKP', crv: 'Ed25519', x: str('x')!, kid: str('kid')! };
  if (isPrivate) out.d = str('d')!;
  return out;
}


/** Earlier public keys (SALLYPORT_SIGNING_PREVIOUS_KEYS), so old checkpoints still verify. */
export function previousKeys(r: Reader): Record<string, string>[] {
  const previousRaw = r.read('SALLYPORT_SIGNING_PREVIOUS_KEYS');
  if (previousRaw === undefined) return [];
  const parsed = parseJson(previousRaw);
  if (!parsed || !Array.isArray((parsed as { keys?: unknown }).keys)) {
    r.bad('SALLYPORT_SIGNING_PREVIOUS_KEYS', 'must be a JWKS: {"keys": [ …public Ed25519 JWKs… ]}');
    return [];
  }
  return (parsed as { keys: unknown[] }).keys.flatMap((k, i) => {
    const jwk = ed25519Jwk(`SALLYPORT_SIGNING_PREVIOUS_KEYS.keys[${i}]`, JSON.stringify(k), false, r.bad);
    return jwk ? [jwk] : [];
  });
}

/**
 * For `sallyport verify` without --jwks: the keys this environment signs with (current and
 * previous), validated like the broker's own. Throws CONFIG_INVALID naming the variable.
 */
export function loadVerifierKeys(env: Env): { current: Record<string, string>; previous: Record<string, string>[] } {
  const r = createReader(env);
  const raw = r.read('SALLYPORT_SIGNING_KEY');
  if (raw === undefined) {
    r.check();
    throw new SallyportError('CONFIG_INVALID', 'give --jwks FILE|URL (or set SALLYPORT_SIGNING_KEY)');
  }
  const current = ed25519Jwk('SALLYPORT_SIGNING_KEY', raw, true, r.bad);
  const previous = previousKeys(r);
  r.check();
  return { current: current!, previous };
}

/** The SSH user CA: its private key file's text, and the public lines nodes should trust. */
export interface SshCaConfig {
  /** The openssh-key-v1 private key (a secret); undefined = no fleet nodes can be reached. */
  readonly key: string | undefined;
  /** The current public key first, then earlier ones still trusted during a rotation. */
  readonly publicKeys: readonly string[];
}

/**
 * SALLYPORT_SSH_CA_KEY[_FILE] and SALLYPORT_SSH_CA_PREVIOUS_KEYS[_FILE] (public key lines, one
 * per line). Problems go to the reader; the key's text is never echoed.
 */
export function sshCa(r: Reader): SshCaConfig {
  const raw = r.read('SALLYPORT_SSH_CA_KEY');
  const publicKeys: string[] = [];
  if (raw !== undefined) {
    try {
      const { key } = parsePrivateKeyFile(raw);
      publicKeys.push(publicKeyLine(key.publicKey, 'sallyport-user-ca'));
    } catch (err) {
      r.bad('SALLYPORT_SSH_CA_KEY', (err as Error).message);
    }
  }
  const previous = r.read('SALLYPORT_SSH_CA_PREVIOUS_KEYS');
  for (const [i, line] of (previous ?? '').split('\n').map((l) => l.trim()).filter(Boolean).entries()) {
    try {
      publicKeys.push(publicKeyLine(ed25519FromLine(line), 'sallyport-user-ca-previous'));
    } catch (err) {
      r.bad(`SALLYPORT_SSH_CA_PREVIOUS_KEYS[${i}]`, (err as Error).message);
    }
  }
  return { key: raw, publicKeys };
}

/** For `sallyport node-config` without --ca-pub: the CA public keys this environment holds. */
export function loadSshCaPublicKeys(env: Env): readonly string[] {
  const r = createReader(env);
  const ca = sshCa(r);
  r.check();
  return ca.publicKeys;
}
