// The Fleet page's data (admins): every catalogue node with its pinned host key's fingerprint,
// whether the broker can log in to it now (a probe: one certificate, one SSH login; bounded by
// the connect timeout), whether its sshd runs with the lockdown (`sshd -T` over that login), and
// how many consoles run on it. The lockdown is also checked on a timer, for /metrics and alerts.
import { authorizeLiveControl } from '../access/index.js';
import type { CatalogStore, FleetNode } from '../catalog/index.js';
import { countLiveConsolesByNode, type Database } from '../db/index.js';
import type { Principal } from '../identity/index.js';
import { checkNodeLockdown, keyIdWord, mapBounded, NODES_AT_ONCE, type FleetPool, type LockdownVerdict } from '../runtime/index.js';
import { fingerprint, parsePublicKeyLine } from '../signing/index.js';

export interface FleetNodeView {
  name: string;
  address: string;
  port: number;
  login: string;
  labels: Record<string, string>;
  hostKeyFingerprint: string;
  reachable: boolean;
  /** Why not, in the words of the refusal (host key, timeout, certificate refused). */
  error: string | null;
  checkedAt: string;
  liveConsoles: number;
  /** Targets whose pool includes this node. */
  targets: string[];
  /** Whether sshd on the node runs with the lockdown (`sshd -T`), and what does not hold; null when unreachable. */
  lockdown: LockdownVerdict | null;
}

export interface FleetView {
  status(p: Principal): Promise<FleetNodeView[]>;
  /** The last lockdown verdict of each node this broker checked, and whether it answered (for /metrics). */
  lockdowns(): ReadonlyMap<string, LockdownVerdict & { reachable: boolean }>;
  /** Checks every node now and then every `everyMs`; returns a stop function. */
  start(everyMs: number, log: { warn(obj: object, msg: string): void }): () => Promise<void>;
}

export function createFleetView(deps: { db: Database; catalog: CatalogStore; fleet: FleetPool }): FleetView {
  const verdicts = new Map<string, LockdownVerdict & { reachable: boolean }>();
  /** One SSH login to the node: reachable or why not, and its lockdown while connected. */
  const probe = async (n: FleetNode, keyId: string): Promise<{ error: string | null; lockdown: LockdownVerdict | null }> => {
    let conn;
    try {
      conn = await deps.fleet.connectTo(n.name, keyId);
    } catch (err) {
      verdicts.set(n.name, { ok: verdicts.get(n.name)?.ok ?? false, problems: verdicts.get(n.name)?.problems ?? [], checkedAt: new Date().toISOString(), reachable: false });
      return { error: (err as Error).message, lockdown: null };
    }
    try {
      const lockdown = await checkNodeLockdown(conn, { sshdConfig: n.sshdConfig, port: n.port, login: n.login });
      verdicts.set(n.name, { ...lockdown, reachable: true });
      return { error: null, lockdown };
    } finally {
      conn.close();
    }
  };
  const checkAll = async (log: { warn(obj: object, msg: string): void }) => {
    const nodes = deps.catalog.current().nodes;
    for (const name of [...verdicts.keys()]) if (!nodes.some((n) => n.name === name)) verdicts.delete(name);
    await mapBounded(nodes, NODES_AT_ONCE, async (n) => {
      const r = await probe(n, 'sallyport lockdown-check');
      if (r.lockdown && !r.lockdown.ok) log.warn({ alert: 'node_lockdown', node: n.name, problems: r.lockdown.problems }, `node ${n.name} is not locked down: ${r.lockdown.problems.join('; ')}`);
    });
  };
  return {
    status: (p) => fleetStatus(deps, p, probe),
    lockdowns: () => verdicts,
    start(everyMs, log) {
      let running: Promise<void> | undefined = checkAll(log).catch(() => undefined);
      const timer = setInterval(() => {
        running ??= checkAll(log)
          .catch(() => undefined)
          .finally(() => (running = undefined));
      }, everyMs);
      timer.unref();
      void running.finally(() => (running = undefined));
      return async () => {
        clearInterval(timer);
        await running;
      };
    },
  };
}

async function fleetStatus(
  deps: { db: Database; catalog: CatalogStore; fleet: FleetPool },
  p: Principal,
  probeNode: (n: FleetNode, keyId: string) => Promise<{ error: string | null; lockdown: LockdownVerdict | null }>,
): Promise<FleetNodeView[]> {
  authorizeLiveControl(p);
  const catalog = deps.catalog.current();
  const live = await countLiveConsolesByNode(deps.db);
  return mapBounded(catalog.nodes, NODES_AT_ONCE, async (n) => {
    const { error: probe, lockdown } = await probeNode(n, `sallyport probe by=${keyIdWord(p.username)}`);
    return {
      name: n.name,
      address: n.address,
      port: n.port,
      login: n.login,
      labels: { ...n.labels },
      hostKeyFingerprint: fingerprint(parsePublicKeyLine(n.hostKey).blob),
      reachable: probe === null,
      error: probe,
      checkedAt: new Date().toISOString(),
      liveConsoles: live.get(n.name) ?? 0,
      targets: catalog.targets.filter((t) => t.placement.includes(n.name)).map((t) => t.name),
      lockdown,
    };
  });
}
