// Plain processes on fleet nodes (`runtime: ssh`), for fleets not yet containerised: one SSH
// connection per console, a PTY, and exactly the catalogue's argv, each word quoted for the
// node's shell — nothing the user sends reaches the command line or the environment. Not
// disposable: the process runs on the node itself, and ends with the connection (sshd hangs up
// the PTY), so a broker that dies leaves nothing running for long.
import { PassThrough } from 'node:stream';
import { SallyportError } from '../../errors.js';
import { fleetKeyId, type FleetPool } from '../fleet/pool.js';
import type { RunningConsole, Runtime } from '../types.js';

/** POSIX shell quoting: every word in single quotes, a quote inside as '\''. */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
}

export function createSshRuntime(fleet: FleetPool): Runtime {
  return {
    name: 'ssh',

    async start(spec) {
      if (spec.nodes.length === 0) throw new SallyportError('INTERNAL', `${spec.target}: runtime ssh needs fleet nodes`);
      if (spec.command.some((a) => a.includes('\0'))) throw new SallyportError('INTERNAL', `${spec.target}: the command holds a NUL byte`);
      const conn = await fleet.connect(spec.nodes, fleetKeyId(spec));
      const node = conn.node.name;
      try {
        const channel = await new Promise<import('ssh2').ClientChannel>((resolve, reject) => {
          conn.client.exec(shellQuote(spec.command), { pty: { term: 'xterm-256color', cols: spec.size.cols, rows: spec.size.rows } }, (err, ch) =>
            err ? reject(new SallyportError('RUNTIME_UNAVAILABLE', `node ${node} refused to start the command: ${err.message}`, { cause: err })) : resolve(ch),
          );
        });
        const output = new PassThrough({ highWaterMark: 64 * 1024 });
        // pipe() stops reading the channel when `output` is not read: SSH flow control then
        // holds the process back, as with a container's TTY.
        channel.pipe(output);
        channel.stderr.pipe(output, { end: false });
        const exited = new Promise<{ exitCode: number; lostNode?: string }>((resolve) => {
          let status: number | undefined;
          channel.once('exit', (code: number | null, signal?: string) => {
            status = code ?? (signal ? 128 + (SIGNALS[signal] ?? 0) : -1);
          });
          channel.once('close', () => {
            if (status !== undefined) return resolve({ exitCode: status });
            // Closed without a status: the connection going down says so first (node lost);
            // otherwise sshd ended the channel without telling how the process ended.
            setTimeout(() => resolve({ exitCode: -1 }), 200).unref();
          });
          // The connection went before the process said how it ended: the node is lost.
          conn.client.once('close', () => resolve(status === undefined ? { exitCode: -1, lostNode: node } : { exitCode: status }));
        });
        let destroyed: Promise<void> | undefined;
        return {
          handle: { runtime: 'ssh', node, id: `${node}/${spec.sessionId}` },
          // No image: the artifact is the argv on this node, which the approval binds.
          artifactDigest: '',
          credential: conn.certificate,
          output,
          input: channel,
          async resize(cols, rows) {
            channel.setWindow(rows, cols, 0, 0);
          },
          exited,
          destroy: () =>
            (destroyed ??= (async () => {
              // Closing the connection hangs up the PTY: sshd sends the process group SIGHUP.
              channel.close();
              conn.close();
            })()),
        } satisfies RunningConsole;
      } catch (err) {
        conn.close();
        throw err;
      }
    },

    // Nothing outlives its connection, so there is nothing to list or reap.
    async list() {
      return [];
    },
    async remove() {},
  };
}

const SIGNALS: Record<string, number> = { HUP: 1, INT: 2, QUIT: 3, KILL: 9, TERM: 15 };
