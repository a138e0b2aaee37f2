// The browser app's entry: loads who you are, then renders the page for the current path.
// Every page builds DOM with textContent only, so nothing from the server is parsed as HTML.
import { ApiError, getJson, useCsrfToken, type Me } from './api.js';
import { el } from './dom.js';
import { renderHome } from './home.js';

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
  useCsrfToken(me.csrfToken);
  document.getElementById('logout')!.hidden = false;
  // Links for what the roles allow; the broker enforces the same rules on every request.
  const has = (...roles: string[]) => roles.some((r) => me.user.roles.includes(r));
  document.getElementById('nav-access')!.hidden = !me.targets.some((t) => t.approvalRequired);
  document.getElementById('nav-approvals')!.hidden = !has('approver', 'admin');
  document.getElementById('nav-live')!.hidden = !has('admin');
  document.getElementById('nav-fleet')!.hidden = !has('admin');
  document.getElementById('nav-audit')!.hidden = !has('auditor', 'admin');

  const path = location.pathname;
  // Each page: its address, the title the tab and the history show, the nav link it belongs to.
  const pages: Array<{ re: RegExp; title: (m: RegExpExecArray) => string; nav?: string; render: (m: RegExpExecArray) => Promise<unknown> }> = [
    { re: /^\/$/, title: () => 'Home', render: async () => renderHome(app, me) },
    { re: /^\/console\/([a-z0-9-]+)$/, title: (m) => `${m[1]} · console`, render: async (m) => (await import('./console.js')).renderConsole(app, m[1]!) },
    { re: /^\/sessions$/, title: () => 'Sessions', nav: 'nav-sessions', render: async () => (await import('./sessions.js')).renderSessions(app, me) },
    { re: /^\/sessions\/([0-9a-f-]{36})$/, title: () => 'Replay', nav: 'nav-sessions', render: async (m) => (await import('./replay.js')).renderReplay(app, m[1]!, me) },
    { re: /^\/access$/, title: () => 'Request access', nav: 'nav-access', render: async () => (await import('./access.js')).renderRequestAccess(app, me) },
    { re: /^\/access\/([0-9a-f-]{36})$/, title: () => 'Access request', nav: 'nav-access', render: async (m) => (await import('./access.js')).renderAccessRequest(app, m[1]!) },
    { re: /^\/approvals$/, title: () => 'Approvals', nav: 'nav-approvals', render: async () => (await import('./approvals.js')).renderApprovals(app, me) },
    { re: /^\/live$/, title: () => 'Live sessions', nav: 'nav-live', render: async () => (await import('./live.js')).renderLive(app) },
    { re: /^\/fleet$/, title: () => 'Fleet', nav: 'nav-fleet', render: async () => (await import('./fleet.js')).renderFleet(app) },
    { re: /^\/ssh\/([A-Za-z0-9_-]{32})$/, title: () => 'Confirm SSH login', render: async (m) => (await import('./ssh-login.js')).renderSshLogin(app, m[1]!, me) },
    { re: /^\/cli\/([A-Za-z0-9_-]{32})$/, title: () => 'Confirm CLI login', render: async (m) => (await import('./cli-login.js')).renderCliLogin(app, m[1]!, me) },
    { re: /^\/search$/, title: () => 'Search', nav: 'nav-search', render: async () => (await import('./search.js')).renderSearch(app) },
    { re: /^\/audit$/, title: () => 'Audit log', nav: 'nav-audit', render: async () => (await import('./audit.js')).renderAudit(app) },
  ];
  let m: RegExpExecArray | null = null;
  const found = pages.find((p) => (m = p.re.exec(path)));
  if (!found || !m) {
    document.title = 'Not found · Sallyport';
    app.replaceChildren(el('h1', { textContent: 'Not found' }), el('p', { id: 'not-found', textContent: `There is no page at ${path}.` }), el('p', {}, el('a', { href: '/', textContent: 'Home' })));
    return;
  }
  // A page may set a more precise title once it knows its data (Replay: target and user).
  document.title = `${found.title(m)} · Sallyport`;
  if (found.nav) document.getElementById(found.nav)?.setAttribute('aria-current', 'page');
  try {
    await found.render(m);
  } catch (err) {
    app.replaceChildren(el('p', { className: 'error', role: 'alert', textContent: (err as Error).message }));
  }
}

void main();
