// The Approvals page: pending requests this approver may decide (never their own), each
// opened to decide with the exact console in view, and the grants in force, with Revoke.
// It refreshes every 3 s by patching what changed, so focus and a screen reader's place stay.
import { getJson, postJson, type AccessRequest, type Me } from './api.js';
import { requestRow, requestTable } from './access-view.js';
import { whenConfirmed } from './confirm.js';
import { el, link, patch } from './dom.js';

export async function renderApprovals(app: HTMLElement, me: Me): Promise<() => void> {
  const mayRevoke = me.user.roles.includes('approver') || me.user.roles.includes('admin');
  const say = (text: string) => {
    const problem = document.getElementById('approvals-error');
    if (problem) problem.textContent = text;
  };
  const draw = async () => {
    const pending = (await getJson<{ requests: AccessRequest[] }>('/api/access-requests?scope=decide')).requests;
    const active = mayRevoke ? (await getJson<{ requests: AccessRequest[] }>('/api/access-requests?scope=active')).requests : [];
    const revoke = (r: AccessRequest) =>
      el('button', {
        className: 'revoke danger',
        textContent: 'Revoke',
        ariaLabel: `Revoke ${r.requester}'s access to ${r.target}`,
        onclick: () =>
          whenConfirmed(
            {
              id: 'revoke-dialog',
              title: `Revoke ${r.requester}'s access to ${r.target}?`,
              message: 'The grant ends now and a console opened with it ends too.',
              confirm: 'Revoke',
              reason: { label: 'Reason ', placeholder: 'shown to the requester' },
            },
            (reason) => postJson(`/api/access-requests/${r.id}/revoke`, { reason }).then(draw),
            (err) => say(err.message),
          ),
      });
    patch(
      app,
      el('h1', { textContent: 'Approvals' }),
      requestTable(
        'pending-requests',
        pending.map((r) => requestRow(r, [link(`/access/${r.id}`, 'Review', { className: 'button review', ariaLabel: `Review ${r.requester}'s request for ${r.target}` })])),
        'Nothing waits for your decision.',
      ),
      mayRevoke ? el('h2', { textContent: 'Active grants' }) : '',
      mayRevoke ? requestTable('active-grants', active.map((r) => requestRow(r, [revoke(r)])), 'No grants are in force.') : '',
      el('p', { className: 'error', id: 'approvals-error', role: 'alert', textContent: document.getElementById('approvals-error')?.textContent ?? '' }),
    );
  };
  await draw();
  const timer = setInterval(() => void draw().catch(() => undefined), 3000);
  return () => clearInterval(timer);
}
