// The Fleet page (admins): every fleet node, whether the broker can log in to it now, whether
// its sshd runs with the lockdown, the fingerprint of the host key it is pinned to, and the
// consoles running on it.
import { getJson } from './api.js';
import { count, when } from './format.js';
import { el } from './dom.js';

interface FleetNode {
  name: string;
  address: string;
  port: number;
  login: string;
  labels: Record<string, string>;
  hostKeyFingerprint: string;
  reachable: boolean;
  error: string | null;
  checkedAt: string;
  liveConsoles: number;
  targets: string[];
  lockdown: { ok: boolean; problems: string[]; checkedAt: string } | null;
}

export async function renderFleet(app: HTMLElement): Promise<void> {
  const status = el('p', { className: 'meta', id: 'fleet-status', textContent: 'Checking every node…' });
  const table = el('div', { id: 'fleet-list' });
  app.replaceChildren(el('h1', { textContent: 'Fleet' }), status, table);
  const { nodes } = await getJson<{ nodes: FleetNode[] }>('/api/fleet');
  const unlocked = nodes.filter((n) => n.lockdown && !n.lockdown.ok).length;
  status.textContent = nodes.length ? `${nodes.filter((n) => n.reachable).length} of ${count(nodes.length, 'node')} reachable${unlocked ? `; ${count(unlocked, 'node')} NOT locked down` : ''}` : 'No fleet nodes in the catalogue: consoles run on the broker\'s own engine.';
  if (!nodes.length) return;
  const rows = nodes.map((n) => {
    const row = el(
      'tr',
      { className: `fleet-node${n.reachable ? '' : ' unreachable'}` },
      el('td', { textContent: n.name }),
      el('td', {}, el('code', { textContent: `${n.login}@${n.address}:${n.port}` })),
      el('td', { className: `reachability${n.reachable ? ' ok' : ''}`, textContent: n.reachable ? 'reachable' : `unreachable: ${n.error ?? ''}`, title: `checked ${when(n.checkedAt)}` }),
      el(
        'td',
        { className: `lockdown${n.lockdown?.ok ? ' ok' : ''}` },
        n.lockdown === null ? 'not checked (unreachable)' : n.lockdown.ok ? 'locked down (sshd -T)' : `NOT locked down: ${n.lockdown.problems.join('; ')}`,
      ),
      el('td', {}, el('code', { className: 'fingerprint', textContent: n.hostKeyFingerprint })),
      el('td', { className: 'live-consoles', textContent: String(n.liveConsoles) }),
      el('td', { textContent: n.targets.join(', ') }),
      el('td', { textContent: Object.entries(n.labels).map(([k, v]) => `${k}=${v}`).join(', ') }),
    );
    row.dataset.node = n.name;
    return row;
  });
  table.replaceChildren(
    el(
      'div',
      { className: 'table-wrap' },
      el(
        'table',
        { className: 'fleet' },
        el('thead', {}, el('tr', {}, ...['Node', 'Login', 'Reachability', 'Lockdown', 'Host key (pinned)', 'Consoles', 'Targets', 'Labels'].map((h) => el('th', { textContent: h })))),
        el('tbody', {}, ...rows),
      ),
    ),
  );
}
