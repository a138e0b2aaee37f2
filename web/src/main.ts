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
  try {
    let m: RegExpExecArray | null;
    if ((m = /^\/console\/([a-z0-9-]+)$/.exec(path))) {
      const { renderConsole } = await import('./console.js');
      renderConsole(app, m[1]!);
    } else if (path === '/sessions') {
      const { renderSessions } = await import('./sessions.js');
      await renderSessions(app);
    } else if ((m = /^\/sessions\/([0-9a-f-]{36})$/.exec(path))) {
      const { renderReplay } = await import('./replay.js');
      await renderReplay(app, m[1]!);
    } else if (path === '/access') {
      const { renderRequestAccess } = await import('./access.js');
      await renderRequestAccess(app, me);
    } else if ((m = /^\/access\/([0-9a-f-]{36})$/.exec(path))) {
      const { renderAccessRequest } = await import('./access.js');
      await renderAccessRequest(app, m[1]!);
    } else if (path === '/approvals') {
      const { renderApprovals } = await import('./approvals.js');
      await renderApprovals(app, me);
    } else if (path === '/live') {
      const { renderLive } = await import('./live.js');
      await renderLive(app);
    } else if (path === '/fleet') {
      const { renderFleet } = await import('./fleet.js');
      await renderFleet(app);
    } else if ((m = /^\/ssh\/([A-Za-z0-9_-]{32})$/.exec(path))) {
      const { renderSshLogin } = await import('./ssh-login.js');
      await renderSshLogin(app, m[1]!, me);
    } else if ((m = /^\/cli\/([A-Za-z0-9_-]{32})$/.exec(path))) {
      const { renderCliLogin } = await import('./cli-login.js');
      await renderCliLogin(app, m[1]!, me);
    } else if (path === '/search') {
      const { renderSearch } = await import('./search.js');
      await renderSearch(app);
    } else if (path === '/audit') {
      const { renderAudit } = await import('./audit.js');
      await renderAudit(app);
    } else {
      renderHome(app, me);
    }
  } catch (err) {
    app.replaceChildren(el('p', { className: 'error', textContent: (err as Error).message }));
  }
}

void main();
