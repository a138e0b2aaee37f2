// The Fleet page's data (admins): every catalogue node with its pinned host key's fingerprint,
// whether the broker can log in to it now (a probe: one certificate, one SSH login, closed at
// once; bounded by the connect timeout), and how many consoles run on it.
import { authorizeLiveControl } from '../access/index.js';
import type { CatalogStore } from '../catalog/index.js';
import { countLiveConsolesByNode, type Database } from '../db/index.js';
import type { Principal } from '../identity/index.js';
import { keyIdWord, mapBounded, NODES_AT_ONCE, type FleetPool } from '../runtime/index.js';
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
}

export interface FleetView {
  status(p: Principal): Promise<FleetNodeView[]>;
}

export function createFleetView(deps: { db: Database; catalog: CatalogStore; fleet: FleetPool }): FleetView {
  return { status: (p) => fleetStatus(deps, p) };
}

async function fleetStatus(deps: { db: Database; catalog: CatalogStore; fleet: FleetPool }, p: Principal): Promise<FleetNodeView[]> {
  authorizeLiveControl(p);
  const catalog = deps.catalog.current();
  const live = await countLiveConsolesByNode(deps.db);
  return mapBounded(catalog.nodes, NODES_AT_ONCE, async (n) => {
    const probe = await deps.fleet.connectTo(n.name, `sallyport probe by=${keyIdWord(p.username)}`).then(
      (conn) => {
        conn.close();
        return null;
      },
      (err: Error) => err.message,
    );
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
    };
  });
}
