// The Approvals page: pending requests this approver may decide (never their own), each
// opened to decide with the exact console in view, and the grants in force, with Revoke.
import { getJson, postJson, type AccessRequest, type Me } from './api.js';
import { requestRow, requestTable } from './access-view.js';
import { el, link } from './dom.js';

export async function renderApprovals(app: HTMLElement, me: Me): Promise<() => void> {
  const mayRevoke = me.user.roles.includes('approver') || me.user.roles.includes('admin');
  const problem = el('p', { className: 'error', id: 'approvals-error' });
  const draw = async () => {
    const pending = (await getJson<{ requests: AccessRequest[] }>('/api/access-requests?scope=decide')).requests;
    const active = mayRevoke ? (await getJson<{ requests: AccessRequest[] }>('/api/access-requests?scope=active')).requests : [];
    const revoke = (r: AccessRequest) =>
      el('button', {
        className: 'revoke',
        textContent: 'Revoke',
        onclick: () => void postJson(`/api/access-requests/${r.id}/revoke`, { reason: 'revoked from the Approvals page' }).then(draw, (err: Error) => (problem.textContent = err.message)),
      });
    app.replaceChildren(
      el('h1', { textContent: 'Approvals' }),
      requestTable('pending-requests', pending.map((r) => requestRow(r, [link(`/access/${r.id}`, 'Review', { className: 'button review' })])), 'Nothing waits for your decision.'),
      mayRevoke ? el('h2', { textContent: 'Active grants' }) : '',
      mayRevoke ? requestTable('active-grants', active.map((r) => requestRow(r, [revoke(r)])), 'No grants are in force.') : '',
      problem,
    );
  };
  await draw();
  const timer = setInterval(() => void draw().catch(() => undefined), 3000);
  return () => clearInterval(timer);
}
