// The SSH front door: a stock OpenSSH client reaches a console with `ssh -p 2222 TARGET@broker`.
// It only authenticates and adapts: the login is the browser's (identity/ssh-logins.ts shows a
// link and a code during keyboard-interactive, and the user confirming it in a browser is who
// the connection becomes); the console is the console service's, through the same pipeline and
// policy as the WebSocket door. Everything but one session channel with a PTY and a shell is
// refused and audited — port forwarding, agent, X11, exec, subsystems (sftp), env — so no tunnel
// can bypass the recording. Modern algorithms only, strict key exchange (Terrapin), and every
// resource a client can make it hold is bounded: connections not logged in (per address and in
// all), authentication attempts, time to log in.
import { createServer, isIPv6, type AddressInfo, type Socket } from 'node:net';
import ssh2 from 'ssh2';
import type { AccessRequests } from '../access/index.js';
import type { AuditLog } from '../audit/index.js';
import type { CatalogStore } from '../catalog/index.js';
import type { Config } from '../config/index.js';
import type { ConsoleService } from '../consoles/index.js';
import type { Principal, SshKey, SshLogins } from '../identity/index.js';
import { fingerprint, parsePrivateKeyFile, publicKeyLine, ed25519Blob } from '../signing/index.js';
import { createRateLimiter } from '../rate-limit.js';
import { createLoginWaiter } from './login-waiter.js';
import { runConsoleChannel, type ChannelContext } from './console-channel.js';

/** Curve25519 key exchange, Ed25519 host key, AEAD ciphers only: no CBC, no SHA-1, no CTR+MAC. */
export const SSH_ALGORITHMS = {
  kex: ['curve25519-sha256', 'curve25519-sha256@libssh.org'],
  serverHostKey: ['ssh-ed25519'],
  cipher: ['chacha20-poly1305@openssh.com', 'aes256-gcm@openssh.com', 'aes128-gcm@openssh.com'],
  // Unused with AEAD ciphers, but the handshake needs a list: only encrypt-then-MAC SHA-2.
  hmac: ['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com'],
  compress: ['none'],
} as const;

/** Authentication requests one connection may make (each key an agent offers is one). */
const MAX_AUTH_ATTEMPTS = 12;
/** Global requests that are forwarding: refused and audited. Others (keepalives) are just refused. */
const FORWARDING_REQUESTS = new Set(['tcpip-forward', 'cancel-tcpip-forward', 'streamlocal-forward@openssh.com', 'cancel-streamlocal-forward@openssh.com']);
/** From login to the session channel a console needs. */
const SESSION_WAIT_MS = 30_000;
/** Refused requests audited on one connection before it is closed. */
const MAX_REFUSALS = 32;
/** The SSH user name names the target; anything else is shown the list. */
const TARGET_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export interface SshDoorDeps {
  config: Config;
  consoles: ConsoleService;
  access: AccessRequests;
  logins: SshLogins;
  audit: AuditLog;
  catalog: CatalogStore;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

export interface SshDoor {
  readonly port: number;
  /** The host key as an OpenSSH public key line, and its SHA256 fingerprint, for users to verify. */
  readonly hostKey: { line: string; fingerprint: string };
  /** No new connections, no more waiting logins; consoles already open go on until drained. */
  stopAccepting(): void;
  /** Closes every connection left (after the consoles were drained and told why). */
  close(): Promise<void>;
}

export async function startSshDoor(deps: SshDoorDeps): Promise<SshDoor> {
  const { config, audit, log } = deps;
  const door = config.sshDoor;
  const hostKeyText = door.hostKey!;
  const { key } = parsePrivateKeyFile(hostKeyText);
  const hostKey = { line: publicKeyLine(key.publicKey, 'sallyport-host'), fingerprint: fingerprint(ed25519Blob(key.publicKey)) };
  const waiter = createLoginWaiter(deps.logins, (err) => log.warn({ err: (err as Error).message }, 'ssh door: cannot read SSH logins; connections keep waiting'));
  let unauthenticatedTotal = 0;
  const clients = new Set<ssh2.Connection>();
  // A refused handshake is audited at most once a minute per address: a scan must not fill the log.
  const handshakeAudits = createRateLimiter({ perMinute: 1, burst: 1 });
  // Each login writes a row and its audit events: the same budget per address as the browser's.
  const loginStarts = createRateLimiter({ perMinute: config.limits.loginsPerMinute, burst: config.limits.loginsPerMinute });
  let port = door.listen!.port;
  let closed: Promise<void> | undefined;

  const audited = new WeakMap<ssh2.Connection, number>();
  /**
   * Audits a refused request. A client asking again and again (a tunnel retried in a loop) must
   * not grow the audit log without bound: past MAX_REFUSALS on one connection, it is closed.
   */
  const refused = (client: ssh2.Connection, actor: string, ctx: { username: string | null; clientAddress: string; clientVersion: string }, request: string, detail: string) => {
    const n = (audited.get(client) ?? 0) + 1;
    audited.set(client, n);
    if (n > MAX_REFUSALS) return void client.end();
    void audit
      .append({ actor, action: 'ssh.refused', subject: request, details: { request, detail: detail.slice(0, 200), ...ctx } })
      .catch(() => undefined);
  };

  const server = new ssh2.Server(
    {
      hostKeys: [hostKeyText],
      algorithms: SSH_ALGORITHMS as unknown as ssh2.Algorithms,
      ident: 'Sallyport',
    },
    (client, info) => {
      const clientAddress = info.ip;
      const clientVersion = (info.header?.identRaw ?? '').slice(0, 200);
      const who = { username: null as string | null, clientAddress, clientVersion };
      const socket = accepted.get(`${info.ip}|${info.port}`);
      accepted.delete(`${info.ip}|${info.port}`);
      const uncount = socket?.uncount ?? (() => undefined);
      clients.add(client);
      const aborted = new AbortController();
      let principal: Principal | undefined;
      let attempts = 0;
      let loginStarted = false;
      /** A key this connection proved it holds (signed for), remembered once a browser confirms the login. */
      let provenKey: SshKey | undefined;
      /** The target the SSH user name named ('' for none, or a name that cannot be one). */
      let requested = '';
      // The whole login, link included, must finish in time.
      const loginDeadline = setTimeout(() => client.end(), (door.loginSeconds + 15) * 1000);

      client.on('error', (err) => {
        // A failed negotiation (a client forced to weak algorithms) is a refusal worth a line.
        if (/handshake|no matching/i.test(err.message) && handshakeAudits.take(clientAddress)) refused(client, 'anonymous', who, 'handshake', err.message);
      });
      client.on('close', () => {
        clients.delete(client);
        clearTimeout(loginDeadline);
        aborted.abort();
        uncount();
      });

      client.on('authentication', (ctx) => {
        attempts++;
        who.username = ctx.username.slice(0, 64);
        if (attempts > MAX_AUTH_ATTEMPTS) {
          ctx.reject([]);
          client.end();
          return;
        }
        if (ctx.method === 'publickey' && door.keyLoginHours > 0 && !loginStarted && !provenKey) {
          // A key a browser login confirmed before logs that user in again; any other key the
          // client proves it holds is remembered once this login is confirmed in a browser.
          const key = ctx.key;
          if (!ctx.signature) return ctx.accept(); // "this key would do": the client signs next
          const parsed = ssh2.utils.parseKey(key.data);
          if (parsed instanceof Error || !parsed.verify(ctx.blob!, ctx.signature, ctx.hashAlgo)) return ctx.reject(['keyboard-interactive']);
          const proved = { algorithm: key.algo, blob: Buffer.from(key.data) };
          const target = TARGET_NAME.test(ctx.username) ? ctx.username : '';
          void deps.logins
            .keyLogin(proved, { target, clientAddress, clientVersion })
            .then((p) => {
              if (p) {
                principal = p;
                requested = target;
                uncount();
                clearTimeout(loginDeadline);
                return ctx.accept();
              }
              provenKey = proved;
              // Partial success: the key is proven, a browser must still confirm who this is.
              ctx.reject(['keyboard-interactive'], true);
            })
            .catch(() => ctx.reject(['keyboard-interactive']));
          return;
        }
        // Offer public keys first while key logins are on: a key a browser confirmed skips the link.
        if (ctx.method !== 'keyboard-interactive' || loginStarted) return ctx.reject(door.keyLoginHours > 0 && !provenKey && !loginStarted ? ['publickey', 'keyboard-interactive'] : ['keyboard-interactive']);
        loginStarted = true;
        if (!loginStarts.take(clientAddress)) {
          ctx.reject([]);
          client.end();
          return;
        }
        const target = TARGET_NAME.test(ctx.username) ? ctx.username : '';
        requested = target;
        const start = { target, clientAddress, clientVersion };
        void (async () => {
          let link: Awaited<ReturnType<SshLogins['begin']>>;
          try {
            link = await deps.logins.begin(start);
          } catch (err) {
            log.warn({ err: (err as Error).message }, 'ssh door: cannot start an SSH login');
            return ctx.reject([]);
          }
          // Shown a link: from here the login's own deadline applies, and the connection is no
          // longer the first to go when the door is full. Until here, however many requests it
          // sent (a `none`, a key), the handshake window holds.
          socket?.linked();
          // A mistyped target is said now, before anyone opens a browser for it; the link still
          // leads to the list of targets the user may open.
          const known = target !== '' && deps.catalog.current().targets.some((t) => t.name === target);
          const instructions = [
            '',
            ...(known
              ? []
              : [
                  `  Sallyport: there is no target named ${target || ctx.username.slice(0, 64).replace(/[^\x20-\x7e]/g, '?')}; the user name you connect as names the target.`,
                  '  Confirm the link below only to see the targets you may open.',
                  '',
                ]),
            `  Sallyport: to open ${known ? `a console on ${target}` : 'a console'}, confirm this login in your browser:`,
            '',
            `    ${link.url}`,
            '',
            `  and check that it shows the code  ${link.code}`,
            `  The link works once, for ${Math.round(door.loginSeconds / 60)} minutes. This connection continues when you confirm.`,
            '',
          ].join('\n');
          // No prompts: OpenSSH prints the instructions and answers at once; the answer to it is
          // held until the link is confirmed (or expires), so the session starts by itself.
          ctx.prompt([], 'Sallyport login', instructions, () => {
            void waiter
              .wait(link.token, link.expiresAt, aborted.signal)
              .then((outcome) => {
                if ('principal' in outcome) {
                  principal = outcome.principal;
                  uncount();
                  clearTimeout(loginDeadline);
                  // The key this connection proved now logs this user in again, without a browser.
                  if (provenKey) void deps.logins.rememberKey(outcome.principal, provenKey, start).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'ssh door: could not remember the key'));
                  return ctx.accept();
                }
                void deps.logins.abandoned(start, outcome.why).catch(() => undefined);
                if (outcome.why !== 'disconnected') {
                  ctx.reject([]);
                  client.end();
                }
              })
              // The connection may be gone by the time the answer is sent.
              .catch(() => client.end());
          });
        })().catch(() => client.end());
      });

      client.on('ready', () => {
        const signedIn = principal!;
        who.username = signedIn.username;
        const actor = `user:${signedIn.userId}`;
        let sessions = 0;
        // A logged-in connection is for one console: without a session soon, or once it closes,
        // the connection ends (it must not linger, holding a place, with nothing recorded).
        const noSession = setTimeout(() => client.end(), SESSION_WAIT_MS);
        client.once('close', () => clearTimeout(noSession));
        client.on('request', (_accept, reject, name, info) => {
          if (FORWARDING_REQUESTS.has(name)) refused(client, actor, who, name, `${(info as { bindAddr?: string }).bindAddr ?? ''}:${(info as { bindPort?: number }).bindPort ?? ''}`);
          reject?.();
        });
        client.on('tcpip', (_accept, reject, info) => {
          refused(client, actor, who, 'direct-tcpip', `${info.destIP}:${info.destPort}`);
          reject();
        });
        client.on('openssh.streamlocal', (_accept, reject, info) => {
          refused(client, actor, who, 'direct-streamlocal', info.socketPath);
          reject();
        });
        client.on('session', (accept, reject) => {
          // One console per connection: a multiplexed second session is refused.
          if (++sessions > 1) {
            refused(client, actor, who, 'session', 'a second session on one connection');
            return reject();
          }
          const ctx: ChannelContext = {
            principal: signedIn,
            target: requested,
            clientAddress,
            clientVersion,
            refused: (request, detail) => refused(client, actor, who, request, detail),
          };
          clearTimeout(noSession);
          const session = accept();
          session.once('close', () => client.end());
          runConsoleChannel(session, ctx, { ...deps, sshPort: () => port });
        });
      });
    },
  );

  // Bounded at the TCP accept, before ssh2 sees a byte: a client that never sends its version,
  // or is never shown a link, holds one of a few places for its address (an IPv6 /64 is one
  // address) and of the total, for the handshake window. When every place is taken, the oldest
  // connection not yet shown a link, of the address holding the most, makes room (as OpenSSH's
  // MaxStartups drops unauthenticated connections): a flood from a few addresses cannot close the
  // door to everyone else. ssh2 gets the socket afterwards (injectSocket).
  interface Pending {
    socket: Socket;
    linked: boolean;
  }
  /** Each address's connections not yet logged in, oldest first: its count is the list's length. */
  const pendingBy = new Map<string, Pending[]>();
  const accepted = new Map<string, { uncount: () => void; linked: () => void }>();
  const evictOne = (): boolean => {
    let worst: Pending[] | undefined;
    for (const list of pendingBy.values()) {
      if (list.some((p) => !p.linked) && (!worst || list.length > worst.length)) worst = list;
    }
    const victim = worst?.find((p) => !p.linked);
    if (!victim) return false;
    victim.socket.destroy();
    return true;
  };
  // noDelay: an echoed key is one small write, often right behind another (the last key's echo,
  // a window adjust); with Nagle on, it waits for the client's delayed ACK, 40 ms on Linux.
  const tcp = createServer({ noDelay: true }, (socket) => {
    const address = addressKey(socket.remoteAddress ?? '');
    if ((pendingBy.get(address)?.length ?? 0) + 1 > door.unauthenticatedPerAddress || (unauthenticatedTotal + 1 > door.unauthenticatedTotal && !evictOne())) {
      socket.destroy();
      return;
    }
    unauthenticatedTotal++;
    const entry: Pending = { socket, linked: false };
    pendingBy.set(address, [...(pendingBy.get(address) ?? []), entry]);
    let counted = true;
    const uncount = () => {
      if (!counted) return;
      counted = false;
      unauthenticatedTotal--;
      const left = (pendingBy.get(address) ?? []).filter((p) => p !== entry);
      if (left.length) pendingBy.set(address, left);
      else pendingBy.delete(address);
    };
    const key = `${socket.remoteAddress ?? ''}|${socket.remotePort}`;
    // Until the connection is shown its link: version, key exchange and any auth requests included.
    const handshake = setTimeout(() => socket.destroy(), door.handshakeSeconds * 1000);
    socket.once('close', () => {
      clearTimeout(handshake);
      accepted.delete(key);
      uncount();
    });
    socket.on('error', () => undefined);
    accepted.set(key, {
      uncount,
      linked: () => {
        entry.linked = true;
        clearTimeout(handshake);
      },
    });
    server.injectSocket(socket);
  });
  tcp.on('error', (err: Error) => log.warn({ err: err.message }, 'ssh door: listener error'));

  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(door.listen!.port, door.listen!.host, () => {
      tcp.off('error', reject);
      resolve();
    });
  });
  port = (tcp.address() as AddressInfo).port;
  log.info({ port, fingerprint: hostKey.fingerprint }, 'ssh door listening');

  const stopAccepting = () => {
    waiter.stop();
    closed ??= new Promise<void>((resolve) => tcp.close(() => resolve()));
  };
  return {
    port,
    hostKey,
    stopAccepting,
    async close() {
      stopAccepting();
      for (const c of clients) c.end();
      await closed;
    },
  };
}

/**
 * What a client address counts as: an IPv4 address itself (also when IPv4-mapped), an IPv6
 * address by its /64 — one host is usually given a whole /64, so counting single addresses
 * would let it take every place.
 */
export function addressKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!isIPv6(ip)) return ip;
  const [head, tail = ''] = ip.toLowerCase().split('::') as [string, string?];
  const left = head ? head.split(':') : [];
  const right = ip.includes('::') && tail ? tail.split(':') : [];
  // An embedded IPv4 tail (a:b::1.2.3.4) lies past the first 64 bits: it does not matter here.
  const groups = ip.includes('::') ? [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => (parseInt(g, 16) || 0).toString(16)).join(':')}::/64`;
}
