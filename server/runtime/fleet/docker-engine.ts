// The Docker Engine API of a fleet node, tunnelled over the broker's own certificate-authenticated
// SSH connection: each HTTP connection dockerode opens is one `docker system dial-stdio` channel
// (the node's docker CLI relaying to its engine), so nothing but SSH is ever exposed on the node.
import { Agent, type AgentOptions } from 'node:http';
import type { Duplex } from 'node:stream';
import { SallyportError } from '../../errors.js';
import type { NodeConnection } from './connect.js';

/** An http.Agent whose sockets are dial-stdio channels on one SSH connection. */
export function dialStdioAgent(conn: NodeConnection): Agent {
  const agent = new Agent({ keepAlive: false } satisfies AgentOptions);
  // http.Agent's createConnection may answer through its callback: a channel opens asynchronously.
  (agent as unknown as { createConnection: unknown }).createConnection = (_opts: unknown, done: (err: Error | null, socket?: Duplex) => void) => {
    const unreachable = (err: Error) => done(new SallyportError('RUNTIME_UNAVAILABLE', `node ${conn.node.name}: cannot reach its Docker engine over SSH (${err.message})`, { cause: err }));
    try {
      conn.client.exec('docker system dial-stdio', (err, channel) => {
      if (err) return unreachable(err);
      // http expects a socket's small API; a channel is a Duplex with these as no-ops.
      const socket = channel as unknown as Duplex & Record<string, unknown>;
      socket.setKeepAlive ??= () => socket;
      socket.setNoDelay ??= () => socket;
      socket.setTimeout ??= () => socket;
      socket.ref ??= () => socket;
      socket.unref ??= () => socket;
      done(null, socket);
      });
    } catch (err) {
      // ssh2 throws when the connection is already gone (a lost node).
      unreachable(err as Error);
    }
    return undefined;
  };
  return agent;
}
