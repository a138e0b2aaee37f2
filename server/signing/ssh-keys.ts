// Ed25519 keys in OpenSSH's forms: the public key line (`ssh-ed25519 AAAA… comment`), the
// SHA256 fingerprint ssh-keygen prints, and the unencrypted openssh-key-v1 private key file
// (what `ssh-keygen -t ed25519 -N ''` writes and `sallyport ssh-ca new` prints). Signing is
// node:crypto's; no SSH library is needed to be a certificate authority.
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { SallyportError } from '../errors.js';
import { SshReader, sshString, sshUint32 } from './ssh-wire.js';

export interface Ed25519Key {
  /** The 32-byte public key. */
  readonly publicKey: Buffer;
  readonly privateKey: KeyObject;
}

const MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');
const PEM_BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const PEM_END = '-----END OPENSSH PRIVATE KEY-----';
/** Host key types a catalogue may pin (what OpenSSH's sshd offers by default). */
const HOST_KEY_TYPES = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa'];

const b64url = (b: Buffer) => b.toString('base64url');

function keyFromSeed(seed: Buffer, publicKey: Buffer): Ed25519Key {
  const privateKey = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: b64url(seed), x: b64url(publicKey) }, format: 'jwk' });
  // A file whose public half does not belong to its private half would sign for someone else.
  const derived = Buffer.from(privateKey.export({ format: 'jwk' }).x as string, 'base64url');
  if (!derived.equals(publicKey)) throw new SallyportError('BAD_REQUEST', 'the private key does not match its public key');
  return { publicKey, privateKey };
}

/** A fresh key pair, held in memory only. */
export function generateEd25519(): Ed25519Key {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return { publicKey: Buffer.from(jwk.x as string, 'base64url'), privateKey };
}

export function signEd25519(key: Ed25519Key, data: Buffer): Buffer {
  return sign(null, data, key.privateKey);
}

/** The SSH public key blob: string "ssh-ed25519", string key. */
export function ed25519Blob(publicKey: Buffer): Buffer {
  return Buffer.concat([sshString('ssh-ed25519'), sshString(publicKey)]);
}

export function publicKeyLine(publicKey: Buffer, comment = ''): string {
  return `ssh-ed25519 ${ed25519Blob(publicKey).toString('base64')}${comment ? ` ${comment}` : ''}`;
}

/** `SHA256:…` as `ssh-keygen -lf` and OpenSSH's own messages print it. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

export interface PublicKey {
  type: string;
  blob: Buffer;
  comment: string;
}

/** Parses `type base64 [comment]`; the type inside the blob must match the one written. */
export function parsePublicKeyLine(text: string, allowed: readonly string[] = HOST_KEY_TYPES): PublicKey {
  const m = /^(\S+)\s+([A-Za-z0-9+/]+={0,2})(?:\s+(.*))?$/.exec(text.trim());
  if (!m) throw new SallyportError('BAD_REQUEST', 'must be an OpenSSH public key line ("ssh-ed25519 AAAA…")');
  const [, type, b64, comment] = m;
  if (!allowed.includes(type!)) throw new SallyportError('BAD_REQUEST', `key type must be one of ${allowed.join(', ')}, got "${type}"`);
  const blob = Buffer.from(b64!, 'base64');
  let inner: string;
  try {
    inner = new SshReader(blob, 'public key').text();
  } catch {
    throw new SallyportError('BAD_REQUEST', 'the public key is malformed');
  }
  if (inner !== type) throw new SallyportError('BAD_REQUEST', `the key says "${type}" but holds a ${inner} key`);
  return { type: type!, blob, comment: comment ?? '' };
}

/** The 32-byte key inside an ssh-ed25519 public key line. */
export function ed25519FromLine(text: string): Buffer {
  const { blob } = parsePublicKeyLine(text, ['ssh-ed25519']);
  const r = new SshReader(blob, 'public key');
  r.text();
  const key = r.string();
  if (key.length !== 32 || !r.done) throw new SallyportError('BAD_REQUEST', 'the ssh-ed25519 key is malformed');
  return key;
}

/** The unencrypted openssh-key-v1 file for one Ed25519 key. */
export function encodePrivateKeyFile(key: Ed25519Key, comment: string): string {
  const seed = Buffer.from(key.privateKey.export({ format: 'jwk' }).d as string, 'base64url');
  const check = randomBytes(4);
  let secret = Buffer.concat([
    check,
    check,
    sshString('ssh-ed25519'),
    sshString(key.publicKey),
    sshString(Buffer.concat([seed, key.publicKey])),
    sshString(comment),
  ]);
  const pad = (8 - (secret.length % 8)) % 8;
  secret = Buffer.concat([secret, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const body = Buffer.concat([
    MAGIC,
    sshString('none'),
    sshString('none'),
    sshString(''),
    sshUint32(1),
    sshString(ed25519Blob(key.publicKey)),
    sshString(secret),
  ]).toString('base64');
  return `${PEM_BEGIN}\n${body.match(/.{1,70}/g)!.join('\n')}\n${PEM_END}\n`;
}

/** Reads an unencrypted openssh-key-v1 Ed25519 key; the message says what is wrong, never the key. */
export function parsePrivateKeyFile(text: string): { key: Ed25519Key; comment: string } {
  const t = text.trim();
  if (!t.startsWith(PEM_BEGIN) || !t.endsWith(PEM_END)) {
    throw new SallyportError('BAD_REQUEST', `must be an OpenSSH private key ("${PEM_BEGIN}"; create one with \`sallyport ssh-ca new\`)`);
  }
  const body = Buffer.from(t.slice(PEM_BEGIN.length, -PEM_END.length).replace(/\s+/g, ''), 'base64');
  if (!body.subarray(0, MAGIC.length).equals(MAGIC)) throw new SallyportError('BAD_REQUEST', 'is not an openssh-key-v1 key');
  const r = new SshReader(body.subarray(MAGIC.length), 'private key');
  if (r.text() !== 'none' || r.text() !== 'none') throw new SallyportError('BAD_REQUEST', 'must not be encrypted (the broker has no one to ask for a passphrase)');
  r.string();
  if (r.uint32() !== 1) throw new SallyportError('BAD_REQUEST', 'must hold exactly one key');
  r.string();
  const s = new SshReader(r.string(), 'private key');
  if (s.uint32() !== s.uint32()) throw new SallyportError('BAD_REQUEST', 'is corrupt (check bytes differ)');
  const type = s.text();
  if (type !== 'ssh-ed25519') throw new SallyportError('BAD_REQUEST', `must be an ssh-ed25519 key, got ${type}`);
  const publicKey = Buffer.from(s.string());
  const both = s.string();
  const comment = s.text();
  if (publicKey.length !== 32 || both.length !== 64) throw new SallyportError('BAD_REQUEST', 'the ssh-ed25519 key is malformed');
  return { key: keyFromSeed(Buffer.from(both.subarray(0, 32)), publicKey), comment };
}
