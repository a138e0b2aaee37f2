// The home page: who you are, your roles, and the targets you may use, each with Open console.
import { getJson, postJson, type Me } from './api.js';
import { el, link } from './dom.js';
import { count, timeEl, when } from './format.js';

interface CliSession {
  id: string;
  username: string;
  clientName: string;
  clientAddress: string;
  scope: 'full' | 'admin';
  createdAt: string;
  expiresAt: string;
}

/**
 * The SSH keys that log you in at the SSH door without a browser: each one a browser login of
 * yours confirmed, ending with that login; revoke one here (a lost laptop) before that.
 */
function sshKeys(): HTMLElement {
  const section = el('section', { className: 'ssh-keys', id: 'ssh-keys' }, el('h2', { textContent: 'Your SSH keys' }));
  const problem = el('p', { className: 'error', role: 'alert' });
  const load = async () => {
    const { keys } = await getJson<{ keys: Array<{ id: string; fingerprint: string; algorithm: string; createdAt: string; expiresAt: string; lastUsedAt: string | null }> }>('/api/me/ssh-keys');
    if (keys.length === 0) {
      section.replaceChildren(section.firstChild!, el('p', { className: 'empty', textContent: 'None: after you confirm an ssh login made with a key, that key logs you in again until this login ends.' }), problem);
      return;
    }
    const rows = keys.map((k) => {
      const revoke = el('button', {
        className: 'revoke-ssh-key',
        textContent: 'Revoke',
        ariaLabel: `Revoke the SSH key ${k.fingerprint}`,
        onclick: () => {
          revoke.disabled = true;
          void postJson(`/api/ssh-keys/${k.id}/revoke`, {})
            .then(load)
            .catch((err: Error) => {
              problem.textContent = err.message;
              revoke.disabled = false;
            });
        },
      });
      const row = el('tr', {}, el('td', {}, el('code', { className: 'ssh-key-fingerprint', textContent: k.fingerprint }), ` ${k.algorithm}`), el('td', {}, timeEl(k.createdAt)), el('td', {}, k.lastUsedAt ? timeEl(k.lastUsedAt) : 'not yet'), el('td', {}, timeEl(k.expiresAt)), el('td', {}, revoke));
      row.dataset.key = k.id;
      return row;
    });
    section.replaceChildren(
      section.firstChild!,
      el('div', { className: 'table-wrap' }, el('table', {}, el('thead', {}, el('tr', {}, ...['Key', 'Remembered', 'Last used', 'Until', ''].map((h) => el('th', { textContent: h })))), el('tbody', {}, ...rows))),
      problem,
    );
  };
  void load().catch((err: Error) => void (problem.textContent = err.message));
  return section;
}

/**
 * Your command-line logins (`sallyport admin login`), and an admin's view of everyone's: each
 * ends with the browser login that confirmed it, and can be ended here before that.
 */
function cliLogins(me: Me): HTMLElement {
  const admin = me.user.roles.includes('admin');
  const section = el('section', { className: 'cli-logins', id: 'cli-logins' }, el('h2', { textContent: admin ? 'Command-line logins (everyone’s)' : 'Your command-line logins' }));
  const problem = el('p', { className: 'error', role: 'alert' });
  const load = async () => {
    const { logins } = await getJson<{ logins: CliSession[] }>(`/api/cli-sessions${admin ? '?all=true' : ''}`);
    if (logins.length === 0) {
      section.replaceChildren(section.firstChild!, el('p', { className: 'empty', textContent: 'None: no command line is logged in.' }), problem);
      return;
    }
    const rows = logins.map((l) => {
      const end = el('button', {
        className: 'revoke-cli-login',
        textContent: `End ${admin && l.username !== me.user.username ? `${l.username}'s ` : ''}login`,
        onclick: () => {
          end.disabled = true;
          void postJson(`/api/cli-sessions/${l.id}/revoke`, {})
            .then(load)
            .catch((err: Error) => {
              problem.textContent = err.message;
              end.disabled = false;
            });
        },
      });
      const row = el(
        'tr',
        {},
        el('td', { textContent: l.username }),
        el('td', {}, el('span', { textContent: l.clientAddress }), ' — the client says ', el('q', { textContent: l.clientName })),
        el('td', { textContent: l.scope === 'full' ? 'everything' : 'admin and audit' }),
        el('td', {}, timeEl(l.createdAt)),
        el('td', {}, timeEl(l.expiresAt)),
        el('td', {}, end),
      );
      row.dataset.login = l.id;
      return row;
    });
    section.replaceChildren(
      section.firstChild!,
      el(
        'div',
        { className: 'table-wrap' },
        el(
          'table',
          {},
          el('thead', {}, el('tr', {}, ...['User', 'From', 'May do', 'Since', 'Ends by', ''].map((h) => el('th', { textContent: h })))),
          el('tbody', {}, ...rows),
        ),
      ),
      problem,
    );
  };
  void load().catch((err: Error) => (problem.textContent = err.message));
  return section;
}

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
  app.replaceChildren(profile, targets, ssh, me.ssh ? sshKeys() : '', cliLogins(me));
}
