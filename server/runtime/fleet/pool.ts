// The fleet as the runtimes see it: connects to a node of a target's pool, preferring nodes that
// answered last time, and remembers each node's reachability for the Fleet page. A node whose
// host key is not its pin is never "tried again elsewhere" silently: the refusal is reported
// (audited by the caller) before the next node is tried.
import { randomInt } from 'node:crypto';
import { isSallyportError, SallyportError } from '../../errors.js';
import type { Ed25519Key } from '../../signing/index.js';
import type { ConsoleSpec, NodeAddress } from '../types.js';
import { connectNode, type NodeConnection } from './connect.js';

/**
 * What a fleet certificate's key id says: which session, for whom, on which target. The user
 * name comes from the IdP and sshd writes the key id into the node's log: anything but a
 * plain name character becomes `_`, so no quote, space or newline reaches that log.
 */
export function fleetKeyId(spec: Pick<ConsoleSpec, 'sessionId' | 'username' | 'target'>): string {
  return `sallyport session=${keyIdWord(spec.sessionId)} user=${keyIdWord(spec.username)} target=${keyIdWord(spec.target)}`;
}

/** One word of a certificate key id: plain name characters only, at most 64. */
export function keyIdWord(v: string): string {
  return v.replace(/[^A-Za-z0-9._@+-]/g, '_').slice(0, 64);
}

export interface NodeHealth {
  readonly reachable: boolean | undefined;
  readonly checkedAt: Date | undefined;
  readonly error: string | undefined;
}

export interface FleetPoolOptions {
  /** The CA, or undefined when SALLYPORT_SSH_CA_KEY is not set (every fleet console then fails clearly). */
  ca: Ed25519Key | undefined;
  sourceAddresses: readonly string[] | undefined;
  certificateSeconds: number;
  connectTimeoutMs: number;
  /** Keepalive: a partitioned node's connection fails after interval × count. */
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  /** Every node of the current catalogue (for reaping and the Fleet page). */
  nodes(): readonly NodeAddress[];
  /**
   * For the audit log: every host-key refusal, and a node becoming unreachable (once per outage,
   * not once per attempt: reapers and the Fleet page keep trying a node that is down).
   */
  onRefused(node: NodeAddress, err: SallyportError): void;
}

export interface FleetPool {
  /** Connects to one node of `candidates`, healthy ones first; throws the last error if none answers. */
  connect(candidates: readonly NodeAddress[], keyId: string): Promise<NodeConnection>;
  /** Connects to one named node of the current catalogue. */
  connectTo(name: string, keyId: string): Promise<NodeConnection>;
  nodes(): readonly NodeAddress[];
  health(name: string): NodeHealth;
}

export function createFleetPool(o: FleetPoolOptions): FleetPool {
  const health = new Map<string, NodeHealth>();
  const attempt = async (node: NodeAddress, keyId: string): Promise<NodeConnection> => {
    if (!o.ca) throw new SallyportError('NODE_UNREACHABLE', `node ${node.name}: this broker has no SSH CA key (set SALLYPORT_SSH_CA_KEY)`);
    try {
      const conn = await connectNode(node, {
        ca: o.ca,
        keyId,
        sourceAddresses: o.sourceAddresses,
        certificateSeconds: o.certificateSeconds,
        connectTimeoutMs: o.connectTimeoutMs,
        keepaliveIntervalMs: o.keepaliveIntervalMs,
        keepaliveCountMax: o.keepaliveCountMax,
      });
      health.set(node.name, { reachable: true, checkedAt: new Date(), error: undefined });
      return conn;
    } catch (err) {
      const e = isSallyportError(err) ? err : new SallyportError('NODE_UNREACHABLE', `node ${node.name}: ${(err as Error).message}`, { cause: err });
      const wasDown = health.get(node.name)?.reachable === false;
      health.set(node.name, { reachable: false, checkedAt: new Date(), error: e.message });
      if (e.code === 'HOST_KEY_REJECTED' || !wasDown) o.onRefused(node, e);
      throw e;
    }
  };
  return {
    async connect(candidates, keyId) {
      if (candidates.length === 0) throw new SallyportError('NODE_UNREACHABLE', 'no fleet node to run on');
      // Healthy (or never tried) first, in random order; then the ones that failed last time.
      const shuffled = [...candidates].map((n) => ({ n, r: randomInt(1 << 30) })).sort((a, b) => a.r - b.r).map((x) => x.n);
      const ordered = [...shuffled.filter((n) => health.get(n.name)?.reachable !== false), ...shuffled.filter((n) => health.get(n.name)?.reachable === false)];
      let last: unknown;
      for (const node of ordered) {
        try {
          return await attempt(node, keyId);
        } catch (err) {
          last = err;
        }
      }
      throw last;
    },
    async connectTo(name, keyId) {
      const node = o.nodes().find((n) => n.name === name);
      if (!node) throw new SallyportError('NODE_UNREACHABLE', `node ${name} is not in the catalogue`);
      return attempt(node, keyId);
    },
    nodes: () => o.nodes(),
    health: (name) => health.get(name) ?? { reachable: undefined, checkedAt: undefined, error: undefined },
  };
}
