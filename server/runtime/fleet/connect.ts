// One SSH connection from the broker to a fleet node: a TCP connection with a bounded timeout, a
// host key that must equal the catalogue's pin (never trust on first use), and authentication
// with a user certificate made for this connection alone — a fresh in-memory key pair, valid
// for about a minute, for the node's login only, from the broker's own address only, PTY only.
// Keepalive every 15 s; the third interval without an answer ends the connection, so a
// partitioned node is noticed within 45 s.
import { randomBytes } from 'node:crypto';
import { connect as tcpConnect, type Socket } from 'node:net';
import ssh2 from 'ssh2';
import { SallyportError } from '../../errors.js';
import { fingerprint, generateEd25519, parsePublicKeyLine, readUserCertificate, signEd25519, signUserCertificate, type Ed25519Key } from '../../signing/index.js';
import type { NodeAddress } from '../types.js';
import { certificateAgent } from './ssh2-certificates.js';

const CLOCK_SKEW_MS = 30_000;

export interface ConnectOptions {
  ca: Ed25519Key;
  /** Names the Sallyport session and user in the certificate (sshd logs it). */
  keyId: string;
  /** The certificate's source-address; default: the connection's own local address. */
  sourceAddresses?: readonly string[];
  connectTimeoutMs?: number;
  /** Certificate lifetime after issue. */
  certificateSeconds?: number;
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
}

export interface NodeConnection {
  readonly node: NodeAddress;
  readonly client: ssh2.Client;
  /** What goes into the session's audit events, read back from the certificate as signed. */
  readonly certificate: { readonly serial: string; readonly keyId: string; readonly validBefore: string; readonly sourceAddress: string };
  close(): void;
}

/** ssh2's names for the host key algorithms that present a key of this type. */
function hostKeyAlgorithms(type: string): ssh2.ServerHostKeyAlgorithm[] {
  return (type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type]) as ssh2.ServerHostKeyAlgorithm[];
}

function openTcp(node: NodeAddress, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    // noDelay: keystrokes are single bytes; Nagle would hold each behind the previous one's ACK.
    const sock = tcpConnect({ host: node.address, port: node.port, noDelay: true });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new SallyportError('NODE_UNREACHABLE', `node ${node.name} (${node.address}:${node.port}) did not answer within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      resolve(sock);
    });
    sock.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new SallyportError('NODE_UNREACHABLE', `node ${node.name} (${node.address}:${node.port}) is unreachable: ${err.code ?? err.message}`, { cause: err }));
    });
  });
}

export async function connectNode(node: NodeAddress, o: ConnectOptions): Promise<NodeConnection> {
  const timeoutMs = o.connectTimeoutMs ?? 10_000;
  const pinned = parsePublicKeyLine(node.hostKey);
  const sock = await openTcp(node, timeoutMs);
  const key = generateEd25519();
  const now = Date.now();
  const seconds = o.certificateSeconds ?? 60;
  // Random, 63 bits: unique without coordination between brokers, and positive for every tool.
  const serial = randomBytes(8).readBigUInt64BE() >> 1n;
  const validBefore = new Date(now + seconds * 1000);
  const cert = signUserCertificate(o.ca, {
    publicKey: key.publicKey,
    serial,
    keyId: o.keyId,
    principals: [node.login],
    // The node's clock may run behind the broker's: valid from a little before now.
    validAfter: new Date(now - CLOCK_SKEW_MS),
    validBefore,
    sourceAddresses: o.sourceAddresses ?? [sock.localAddress!],
    extensions: ['permit-pty'],
  });

  const client = new ssh2.Client();
  let offered: Buffer | undefined;
  await new Promise<void>((resolve, reject) => {
    const fail = (err: Error & { level?: string }) => {
      client.end();
      sock.destroy();
      if (offered && !offered.equals(pinned.blob)) {
        reject(new SallyportError('HOST_KEY_REJECTED', `node ${node.name} presented host key ${fingerprint(offered)}, but the catalogue pins ${fingerprint(pinned.blob)}: refusing to connect (if the node was rebuilt, update its hostKey)`));
      } else if (err.level === 'client-authentication') {
        reject(new SallyportError('NODE_UNREACHABLE', `node ${node.name} refused the broker's certificate (is it configured with \`sallyport node-config\` for login ${node.login}?)`, { cause: err }));
      } else {
        reject(new SallyportError('NODE_UNREACHABLE', `node ${node.name}: ${err.message}`, { cause: err }));
      }
    };
    client.once('ready', () => {
      client.removeListener('error', fail);
      // Later errors (a keepalive timeout, a reset) end the connection, which its users see as
      // 'close'; unheard, an 'error' event would take the whole broker down.
      client.on('error', () => {});
      resolve();
    });
    client.once('error', fail);
    client.connect({
      sock,
      username: node.login,
      agent: certificateAgent(cert.blob, (data) => signEd25519(key, data)),
      // Always set: ssh2 accepts any host key when hostVerifier is missing.
      hostVerifier: (presented: Buffer) => {
        offered = Buffer.from(presented);
        return offered.equals(pinned.blob);
      },
      algorithms: { serverHostKey: hostKeyAlgorithms(pinned.type) },
      readyTimeout: timeoutMs,
      keepaliveInterval: o.keepaliveIntervalMs ?? 15_000,
      // ssh2 gives up on the interval after countMax unanswered pings: 2 → at 3 × 15 s = 45 s.
      keepaliveCountMax: o.keepaliveCountMax ?? 2,
      tryKeyboard: false,
    });
  });
  return {
    node,
    client,
    certificate: { serial: serial.toString(), keyId: o.keyId, validBefore: validBefore.toISOString(), sourceAddress: readUserCertificate(cert.blob).criticalOptions['source-address'] ?? '' },
    close: () => client.end(),
  };
}
