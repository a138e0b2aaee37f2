// The Approvals page: pending requests this approver may decide (never their own), each
// opened to decide with the exact console in view, and the grants in force, with Revoke.
// It refreshes every 3 s by patching what changed, so focus and a screen reader's place stay.
import { getJson, postJson, type AccessRequest, type Me } from './api.js';
import { requestRow, requestTable, revokeButton } from './access-view.js';
import { el, link, patch } from './dom.js';

export async function renderApprovals(app: HTMLElement, me: Me): Promise<() => void> {
  const mayRevoke = me.user.roles.includes('approver') || me.user.roles.includes('admin');
  // The refreshed part and, outside it, the error line (a refresh must not wipe a message).
  const view = el('div', { id: 'approvals-view' });
  const problem = el('p', { className: 'error', id: 'approvals-error', role: 'alert' });
  app.replaceChildren(view, problem);
  const revoke = (r: AccessRequest) =>
    revokeButton(r, (reason) => postJson(`/api/access-requests/${r.id}/revoke`, { reason }).then(draw).catch((err: Error) => void (problem.textContent = err.message)));
  const draw = async () => {
    const pending = (await getJson<{ requests: AccessRequest[] }>('/api/access-requests?scope=decide')).requests;
    const active = mayRevoke ? (await getJson<{ requests: AccessRequest[] }>('/api/access-requests?scope=active')).requests : [];
    patch(
      view,
      el('h1', { textContent: 'Approvals' }),
      requestTable(
        'pending-requests',
        pending.map((r) => requestRow(r, [link(`/access/${r.id}`, 'Review', { className: 'button review', ariaLabel: `Review ${r.requester}'s request for ${r.target}` })])),
        'Nothing waits for your decision.',
      ),
      mayRevoke ? el('h2', { textContent: 'Active grants' }) : '',
      mayRevoke ? requestTable('active-grants', active.map((r) => requestRow(r, [revoke(r)])), 'No grants are in force.') : '',
    );
  };
  await draw();
  const timer = setInterval(() => void draw().catch(() => undefined), 3000);
  return () => clearInterval(timer);
}
