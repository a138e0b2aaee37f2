// One SSH session channel as a console: the PTY's size, the shell request that opens the console
// through the console service (the same call the WebSocket door makes), keys in, output out,
// window changes, and the end — its reason printed, its exit status sent. Every other channel
// request (exec, subsystem, agent, X11, env) is refused and audited.
import { StringDecoder } from 'node:string_decoder';
import type ssh2 from 'ssh2';
import { usableTargets, type AccessRequests } from '../access/index.js';
import type { CatalogStore } from '../catalog/index.js';
import type { Config } from '../config/index.js';
import type { ConsoleClient, ConsoleService, ConsoleSession } from '../consoles/index.js';
import { isSallyportError } from '../errors.js';
import { approveFromTerminal } from './terminal-approval.js';
import type { Principal } from '../identity/index.js';

export interface ChannelContext {
  principal: Principal;
  /** What the SSH user name asked for; '' for nothing (or nothing that can be a target). */
  target: string;
  clientAddress: string;
  clientVersion: string;
  refused(request: string, detail: string): void;
}

/** Exit statuses of a console that never started (a process's own status is passed through). */
export const EXIT_REFUSED = 1;
export const EXIT_NO_TARGET = 2;

export function runConsoleChannel(
  session: ssh2.Session,
  ctx: ChannelContext,
  deps: { consoles: ConsoleService; catalog: CatalogStore; access: AccessRequests; config: Config; sshPort: () => number },
): void {
  let size: { cols: number; rows: number } | undefined;
  let started = false;
  let live: ConsoleSession | undefined;
  const env: string[] = [];
  // Env requests come before the shell; one audit event names them all.
  const flushEnv = () => {
    if (env.length) ctx.refused('env', env.splice(0).join(', '));
  };
  const refuse = (request: string, detail: string, reject: (() => void) | undefined) => {
    ctx.refused(request, detail);
    reject?.();
  };

  session.on('pty', (accept, _reject, info) => {
    size = { cols: clamp(info.cols), rows: clamp(info.rows) };
    accept?.();
  });
  session.on('window-change', (accept, _reject, info) => {
    const next = { cols: clamp(info.cols), rows: clamp(info.rows) };
    if (live) live.resize(next.cols, next.rows);
    else if (size) size = next;
    accept?.();
  });
  session.on('env', (_accept, reject, info) => {
    // The name only: a value may be a secret.
    if (env.length < 32) env.push(String(info.key).slice(0, 64));
    reject?.();
  });
  session.on('auth-agent', (_accept, reject) => refuse('auth-agent', 'agent forwarding', reject));
  session.on('x11', (_accept, reject) => refuse('x11', 'X11 forwarding', reject));
  session.on('signal', (_accept, reject) => reject?.());
  session.on('subsystem', (_accept, reject, info) => {
    flushEnv();
    refuse('subsystem', info.name, reject);
  });
  session.on('sftp', (_accept, reject) => {
    flushEnv();
    refuse('subsystem', 'sftp', reject);
  });
  session.on('exec', (accept, reject, info) => {
    flushEnv();
    // An exec of nothing is a shell; a command would run unrecorded in spirit (no terminal): refused.
    if (info.command.trim() === '') return started ? reject?.() : shell(accept);
    // The first word only: the rest of a command line may hold a secret.
    refuse('exec', info.command.trim().split(/\s+/)[0]!.slice(0, 64), reject);
  });
  session.on('shell', (accept, reject) => {
    flushEnv();
    if (started) return reject?.();
    shell(accept);
  });

  function shell(accept: () => ssh2.ServerChannel) {
    started = true;
    const channel = accept();
    if (!size) {
      ctx.refused('shell', 'without a terminal');
      return finish(channel, 'Sallyport consoles need a terminal: connect with ssh -t.', EXIT_REFUSED);
    }
    // Every step inside catches what it expects; anything else still closes the channel, never the broker.
    openConsole(channel).catch(() => finish(channel, 'sallyport: the console could not be started', EXIT_REFUSED));
  }

  async function openConsole(channel: ssh2.ServerChannel) {
    const { principal } = ctx;
    let channelClosed = false;
    channel.once('close', () => (channelClosed = true));
    let console: ConsoleSession | undefined;
    for (let asked = false; !console; ) {
      // Keys typed while the console starts wait in the channel (its window), not in the broker.
      channel.pause();
      try {
        console = await open(channel);
      } catch (err) {
        const target = deps.catalog.current().targets.find((t) => t.name === ctx.target);
        if (isSallyportError(err, 'APPROVAL_REQUIRED') && target && !asked) {
          asked = true;
          channel.resume();
          const outcome = await approveFromTerminal(channel, principal, target, {
            access: deps.access,
            publicUrl: deps.config.publicUrl,
            waitSeconds: deps.config.sshDoor.approvalWaitSeconds,
          }).catch((e: unknown) => ({ approved: false as const, message: `sallyport: ${isSallyportError(e) ? e.message : 'the approval could not be asked for'}` }));
          if (outcome.approved) continue;
          return finish(channel, outcome.message, EXIT_REFUSED);
        }
        // No such target, or not one for this user (the access layer's answer): the list, without
        // saying which of the two it was.
        if (isSallyportError(err, 'NOT_FOUND') || isSallyportError(err, 'ACCESS_DENIED')) return listTargets(channel);
        const message = isSallyportError(err) ? err.message : 'the console could not be started';
        return finish(channel, `sallyport: ${message}`, EXIT_REFUSED);
      }
    }
    const opened = console;
    // The client left while the console started: end it now, not at its idle timeout.
    if (channelClosed) return void opened.end({ code: 'client_disconnected' });
    const decoder = new StringDecoder('utf8');
    channel.on('data', (chunk: Buffer) => {
      const text = decoder.write(chunk);
      // The process is not keeping up: stop reading; the SSH window holds the client back.
      if (text && !opened.write(text)) {
        channel.pause();
        opened.onInputDrain(() => channel.resume());
      }
    });
    live = opened;
    channel.on('close', () => void opened.end({ code: 'client_disconnected' }));
    channel.resume();
  }

  function listTargets(channel: ssh2.ServerChannel) {
    const { principal } = ctx;
    const usable = usableTargets(principal, deps.catalog.current());
    const host = new URL(deps.config.publicUrl).hostname;
    const lines = [
      ctx.target ? `There is no target named ${ctx.target} that you (${principal.username}) may open.` : `Logged in as ${principal.username}.`,
      usable.length ? 'Targets you may open:' : 'There are no targets you may open.',
      ...usable.map((t) => `  ${t.name.padEnd(24)} ${t.description ?? ''}`.trimEnd()),
      ...(usable.length ? ['', `Open one with:  ssh -t -p ${deps.sshPort()} ${usable[0]!.name}@${host}`] : []),
    ];
    finish(channel, lines.join('\r\n'), ctx.target ? EXIT_NO_TARGET : 0);
  }

  /** Opens with the latest size: the window may have changed while an approval was awaited. */
  function open(channel: ssh2.ServerChannel): Promise<ConsoleSession> {
    const client: ConsoleClient = {
      send: (data) => channel.write(data),
      onDrain: (cb) => void channel.on('drain', cb),
      notice: (message) => void channel.stderr.write(`\r\n[sallyport] ${message}\r\n`),
      watchers: (names) => void channel.stderr.write(`\r\n[sallyport] ${names.length ? `watched live by ${names.join(', ')}` : 'no longer watched'}\r\n`),
      // A process that exited says why itself; any other end is printed (idle, revoked, terminated…).
      end: ({ reason, code, exitStatus }) => finish(channel, code === 'process_exited' ? '' : `[sallyport] console ended: ${reason}`, exitStatus),
    };
    return deps.consoles.open(ctx.principal, ctx.target, size!, client, { via: 'ssh', clientAddress: ctx.clientAddress, clientVersion: ctx.clientVersion });
  }
}

/** Prints why (if anything needs saying), sends the exit status and closes the channel. */
function finish(channel: ssh2.ServerChannel, message: string, exitStatus: number): void {
  try {
    if (message) channel.stderr.write(`\r\n${message}\r\n`);
    channel.exit(exitStatus);
    channel.end();
  } catch {
    // The client has gone already.
  }
}

function clamp(n: number): number {
  return Math.max(1, Math.min(1000, Math.floor(Number(n) || 80)));
}
