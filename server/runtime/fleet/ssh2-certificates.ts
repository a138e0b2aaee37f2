// Certificate authentication for ssh2 1.17's client, which gets two things wrong (found against
// OpenSSH 9; `test/fleet-certificates.test.ts` is the regression test against a real sshd):
//  1. Parsing a `…-cert-v01@openssh.com` line, it reads the certificate's nonce as the public key,
//     so the blob it would send is not the certificate. We give it the certificate blob ourselves.
//  2. Signing, it names the signature with the certificate type instead of the key's own
//     algorithm (`ssh-ed25519`), and sshd rejects the signature (RFC 4252 §7 with
//     PROTOCOL.certkeys: the signature is the plain key's). We send that one request ourselves.
// Both are narrow: only Ed25519 certificates, only the signed publickey request; everything else
// is ssh2's own code. The patch refuses to load against another ssh2 release, so an upgrade is a
// visible decision (re-run the regression test, then widen the version check).
import { createRequire } from 'node:module';
import ssh2 from 'ssh2';
import { SallyportError } from '../../errors.js';

const require = createRequire(import.meta.url);
const CERT_TYPE = 'ssh-ed25519-cert-v01@openssh.com';
const PATCHED_VERSIONS = ['1.17.0'];

interface ParsedKey {
  type: string;
  getPublicSSH(): Buffer;
}

interface ProtocolInternals {
  _kex: { sessionID: Buffer };
  _packetRW: { write: { alloc(n: number): Buffer; allocStart: number; finalize(p: Buffer): Buffer } };
  _authsQueue: string[];
}

type SignCallback = (data: Buffer, done: (signature: Buffer) => void) => void;

let patched = false;

function sshString(v: Buffer | string): Buffer {
  const data = typeof v === 'string' ? Buffer.from(v) : v;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  return Buffer.concat([len, data]);
}

/** Installs the fix once; throws if this ssh2 is not a release it was checked against. */
export function patchSsh2CertificateAuth(): void {
  if (patched) return;
  const version = (require('ssh2/package.json') as { version: string }).version;
  if (!PATCHED_VERSIONS.includes(version)) {
    throw new SallyportError('INTERNAL', `ssh2 ${version} is not a release the certificate fix was checked against (${PATCHED_VERSIONS.join(', ')}); see server/runtime/fleet/ssh2-certificates.ts`);
  }
  const Protocol = require('ssh2/lib/protocol/Protocol.js') as { prototype: Record<string, unknown> };
  const { sendPacket } = require('ssh2/lib/protocol/utils.js') as { sendPacket(p: unknown, packet: Buffer): void };
  const { MESSAGE } = require('ssh2/lib/protocol/constants.js') as { MESSAGE: { USERAUTH_REQUEST: number } };
  const original = Protocol.prototype.authPK as (this: ProtocolInternals, ...args: unknown[]) => void;

  Protocol.prototype.authPK = function authPK(this: ProtocolInternals, username: string, pubKey: ParsedKey, keyAlgo: unknown, cbSign?: unknown) {
    const sign = (typeof keyAlgo === 'function' ? keyAlgo : cbSign) as SignCallback | undefined;
    if (pubKey?.type !== CERT_TYPE || !sign) return original.call(this, username, pubKey, keyAlgo, cbSign);
    const request = Buffer.concat([
      Buffer.from([MESSAGE.USERAUTH_REQUEST]),
      sshString(username),
      sshString('ssh-connection'),
      sshString('publickey'),
      Buffer.from([1]),
      sshString(CERT_TYPE),
      sshString(pubKey.getPublicSSH()),
    ]);
    sign(Buffer.concat([sshString(this._kex.sessionID), request]), (signature) => {
      const payload = Buffer.concat([request, sshString(Buffer.concat([sshString('ssh-ed25519'), sshString(signature)]))]);
      const w = this._packetRW.write;
      const packet = w.alloc(payload.length);
      payload.copy(packet, w.allocStart);
      this._authsQueue.push('publickey');
      sendPacket(this, w.finalize(packet));
    });
  };
  patched = true;
}

/**
 * An ssh2 agent holding one certificate and its in-memory private key: the only identity the
 * broker ever offers a node. `sign` is asked only for this connection's authentication.
 */
export function certificateAgent(certificateBlob: Buffer, signer: (data: Buffer) => Buffer): ssh2.BaseAgent {
  patchSsh2CertificateAuth();
  const parsed = ssh2.utils.parseKey(`${CERT_TYPE} ${certificateBlob.toString('base64')}`);
  if (parsed instanceof Error) throw new SallyportError('INTERNAL', `ssh2 cannot read the certificate: ${parsed.message}`);
  // (1) above: ssh2's parse kept the nonce as the key; the identity is the whole certificate.
  (parsed as unknown as ParsedKey).getPublicSSH = () => certificateBlob;
  return new (class extends ssh2.BaseAgent {
    override getIdentities(cb: (err: Error | undefined, keys?: ssh2.ParsedKey[]) => void): void {
      cb(undefined, [parsed as ssh2.ParsedKey]);
    }
    override sign(_key: unknown, data: Buffer, options: unknown, cb?: unknown): void {
      const done = (typeof options === 'function' ? options : cb) as (err: Error | undefined, signature?: Buffer) => void;
      done(undefined, signer(data));
    }
  })();
}
