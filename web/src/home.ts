// The home page: who you are, your roles, and the targets you may use, each with Open console.
import type { Me } from './api.js';
import { el, link } from './dom.js';
import { count, when } from './format.js';

function targetActions(t: Me['targets'][number]): (Node | string)[] {
  const open = link(`/console/${encodeURIComponent(t.name)}`, 'Open console', { className: 'button primary open-console' });
  if (!t.approvalRequired) return [open];
  if (t.grant) {
    const left = t.grant.sessionsLeft === null ? '' : `, ${count(t.grant.sessionsLeft, 'session')} left`;
    return [el('p', { className: 'badge grant', textContent: `approved until ${when(t.grant.expiresAt)}${left}` }), open];
  }
  return [
    el('p', { className: 'badge', textContent: 'needs approval' }),
    link(`/access?target=${encodeURIComponent(t.name)}`, 'Request access', { className: 'button request-access' }),
  ];
}

export function renderHome(app: HTMLElement, me: Me): void {
  const roles = me.user.roles.length ? me.user.roles.join(', ') : 'none';
  const profile = el(
    'section',
    { className: 'profile', id: 'profile' },
    el('h1', { textContent: `Hello, ${me.user.displayName ?? me.user.username}` }),
    el(
      'dl',
      {},
      el('dt', { textContent: 'Username' }),
      el('dd', { id: 'username', textContent: me.user.username }),
      el('dt', { textContent: 'Roles' }),
      el('dd', { id: 'roles', textContent: roles }),
      el('dt', { textContent: 'Groups' }),
      el('dd', { id: 'groups', textContent: me.user.groups.join(', ') || 'none' }),
    ),
  );

  const targets = el('section', { className: 'targets', id: 'targets' }, el('h2', { textContent: 'Your targets' }));
  if (me.targets.length === 0) {
    targets.append(el('p', { className: 'empty', textContent: 'No console targets are open to you.' }));
  } else {
    const list = el('ul', { className: 'target-list' });
    for (const t of me.targets) {
      const item = el(
        'li',
        { className: 'target' },
        el('h3', { textContent: t.name }),
        el('p', { textContent: t.description }),
        el('p', { className: 'meta' }, ...(t.image ? [el('code', { textContent: t.image }), ' · '] : []), el('code', { textContent: t.command.join(' ') })),
        ...(t.nodes.length ? [el('p', { className: 'meta nodes', textContent: `runs on ${t.nodes.length === 1 ? 'node' : 'one of the nodes'} ${t.nodes.join(', ')}` })] : []),
        ...(t.disposable
          ? []
          : [el('p', { className: 'badge warning not-disposable', textContent: 'Not disposable: this console runs directly on the node, not in a throwaway container.' })]),
        ...targetActions(t),
        ...(me.ssh ? [el('p', { className: 'meta ssh-command' }, 'From a terminal: ', el('code', { textContent: me.ssh.command.replace('TARGET', t.name) }))] : []),
      );
      item.dataset.target = t.name;
      list.append(item);
    }
    targets.append(list);
  }
  // The fingerprint `ssh` shows on first connection: compare it before typing yes.
  const ssh = me.ssh
    ? el(
        'section',
        { className: 'ssh-door', id: 'ssh-door' },
        el('h2', { textContent: 'From your terminal' }),
        el('p', {}, 'Any OpenSSH client reaches your consoles: ', el('code', { textContent: me.ssh.command })),
        el('p', {}, 'The broker’s host key fingerprint is ', el('code', { id: 'ssh-fingerprint', textContent: me.ssh.fingerprint })),
      )
    : '';
  app.replaceChildren(profile, targets, ssh);
}
