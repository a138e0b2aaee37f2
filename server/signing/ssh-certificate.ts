// OpenSSH user certificates (PROTOCOL.certkeys, ssh-ed25519-cert-v01@openssh.com) signed by the
// broker's SSH user CA. One is made per connection to a fleet node, for a key pair that exists
// only in the broker's memory: valid for about a minute, for one principal, usable only from
// the broker's own addresses (`source-address`), with a PTY and nothing else.
import { randomBytes } from 'node:crypto';
import { SallyportError } from '../errors.js';
import { ed25519Blob, fingerprint, signEd25519, type Ed25519Key } from './ssh-keys.js';
import { SshReader, sshString, sshUint32, sshUint64 } from './ssh-wire.js';

export const CERT_TYPE = 'ssh-ed25519-cert-v01@openssh.com';
const USER_CERT = 1;

export interface UserCertificateRequest {
  /** The subject's 32-byte Ed25519 public key. */
  publicKey: Buffer;
  serial: bigint;
  /** Names the Sallyport session and user; sshd logs it with every login. */
  keyId: string;
  principals: readonly string[];
  validAfter: Date;
  validBefore: Date;
  /** Addresses or CIDRs the certificate is accepted from (the broker's egress). */
  sourceAddresses: readonly string[];
  /** Extensions granted; the broker asks only for permit-pty. */
  extensions: readonly string[];
}

export interface UserCertificate {
  /** The certificate blob, as sent in SSH authentication. */
  readonly blob: Buffer;
  readonly serial: bigint;
  readonly keyId: string;
  /** `ssh-ed25519-cert-v01@openssh.com AAAA…`, as ssh-keygen -L reads it. */
  readonly line: string;
}

/** A name/data list as certificates encode them: sorted by name, each data an SSH string. */
function optionList(entries: ReadonlyArray<[string, string | undefined]>): Buffer {
  const sorted = [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.concat(sorted.map(([name, value]) => Buffer.concat([sshString(name), sshString(value === undefined ? Buffer.alloc(0) : sshString(value))])));
}

const unixSeconds = (d: Date) => BigInt(Math.floor(d.getTime() / 1000));

export function signUserCertificate(ca: Ed25519Key, req: UserCertificateRequest): UserCertificate {
  if (req.publicKey.length !== 32) throw new SallyportError('INTERNAL', 'the certificate subject must be an Ed25519 key');
  if (req.principals.length === 0) throw new SallyportError('INTERNAL', 'a certificate without principals is valid for every user: refused');
  if (req.sourceAddresses.length === 0) throw new SallyportError('INTERNAL', 'a certificate without source-address is usable from anywhere: refused');
  const body = Buffer.concat([
    sshString(CERT_TYPE),
    sshString(randomBytes(32)),
    sshString(req.publicKey),
    sshUint64(req.serial),
    sshUint32(USER_CERT),
    sshString(req.keyId),
    sshString(Buffer.concat(req.principals.map((p) => sshString(p)))),
    sshUint64(unixSeconds(req.validAfter)),
    sshUint64(unixSeconds(req.validBefore)),
    sshString(optionList([['source-address', req.sourceAddresses.join(',')]])),
    sshString(optionList(req.extensions.map((e) => [e, undefined]))),
    sshString(''),
    sshString(ed25519Blob(ca.publicKey)),
  ]);
  const signature = Buffer.concat([sshString('ssh-ed25519'), sshString(signEd25519(ca, body))]);
  const blob = Buffer.concat([body, sshString(signature)]);
  return { blob, serial: req.serial, keyId: req.keyId, line: `${CERT_TYPE} ${blob.toString('base64')}` };
}

export interface CertificateFields {
  serial: bigint;
  keyId: string;
  principals: string[];
  validAfter: bigint;
  validBefore: bigint;
  criticalOptions: Record<string, string>;
  extensions: string[];
  caFingerprint: string;
}

/** Reads a certificate back (for the audit log and tests); does not check its signature. */
export function readUserCertificate(blob: Buffer): CertificateFields {
  const r = new SshReader(blob, 'certificate');
  if (r.text() !== CERT_TYPE) throw new SallyportError('BAD_REQUEST', `certificate is not ${CERT_TYPE}`);
  r.string();
  r.string();
  const serial = r.uint64();
  r.uint32();
  const keyId = r.text();
  const names = (b: Buffer) => {
    const out: string[] = [];
    const p = new SshReader(b, 'certificate');
    while (!p.done) out.push(p.text());
    return out;
  };
  const principals = names(r.string());
  const validAfter = r.uint64();
  const validBefore = r.uint64();
  const criticalOptions: Record<string, string> = {};
  const opts = new SshReader(r.string(), 'certificate');
  while (!opts.done) {
    const name = opts.text();
    const data = opts.string();
    criticalOptions[name] = data.length ? new SshReader(data, 'certificate').text() : '';
  }
  const exts = new SshReader(r.string(), 'certificate');
  const extensions: string[] = [];
  while (!exts.done) {
    extensions.push(exts.text());
    exts.string();
  }
  r.string();
  const caFingerprint = fingerprint(r.string());
  return { serial, keyId, principals, validAfter, validBefore, criticalOptions, extensions, caFingerprint };
}
