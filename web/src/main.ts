// The home page: who you are, your roles, and the targets you may use. Built with DOM APIs
// and textContent only, so nothing from the server is ever parsed as HTML.
import { ApiError, getJson, type Me } from './api.js';

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: (Node | string)[]) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

async function main(): Promise<void> {
  const app = document.getElementById('app')!;
  let me: Me;
  try {
    me = await getJson<Me>('/api/me');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      window.location.assign(`/auth/login?returnTo=${encodeURIComponent(location.pathname + location.search)}`);
      return;
    }
    app.replaceChildren(el('p', { className: 'error', textContent: `Could not load your profile: ${(err as Error).message}` }));
    return;
  }

  document.getElementById('whoami')!.textContent = me.user.displayName ?? me.user.username;
  (document.getElementById('csrf') as HTMLInputElement).value = me.csrfToken;
  document.getElementById('logout')!.hidden = false;

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
          el('p', { className: 'meta' }, el('code', { textContent: t.image }), ' · ', el('code', { textContent: t.command.join(' ') })),
          t.approvalRequired ? el('p', { className: 'badge', textContent: 'needs approval' }) : '',
        );
      item.dataset.target = t.name;
      list.append(item);
    }
    targets.append(list);
  }
  app.replaceChildren(profile, targets);
}

void main();
