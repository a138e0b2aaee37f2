// Just-in-time access for developers: the Request access form with their requests, and one
// request's page, which follows its state live (polling) and offers what the viewer may do.
import { getJson, postJson, type AccessRequest, type AccessRequestDetail, type Me } from './api.js';
import { exactConsole, requestRow, requestTable, revokeButton, statusBadge } from './access-view.js';
import { confirmButton } from './confirm.js';
import { el, link, patch } from './dom.js';
import { absoluteTime, count, duration, timeEl, when } from './format.js';

export async function renderRequestAccess(app: HTMLElement, me: Me): Promise<void> {
  const gated = me.targets.filter((t) => t.approval);
  const chosen = new URLSearchParams(location.search).get('target');
  const target = el('select', { id: 'request-target', name: 'target', required: true });
  for (const t of gated) target.add(el('option', { value: t.name, textContent: t.name, selected: t.name === chosen }));
  const reason = el('textarea', { id: 'request-reason', name: 'reason', required: true, maxLength: 2000, rows: 3 });
  const minutes = el('input', { id: 'request-minutes', name: 'minutes', type: 'number', min: '1', required: true, value: '30' });
  const hint = el('p', { className: 'meta', id: 'request-hint' });
  const problem = el('p', { className: 'error', id: 'request-error' });
  const describe = () => {
    const t = gated.find((x) => x.name === target.value);
    if (!t?.approval) return;
    minutes.max = String(Math.floor(t.approval.maxDurationSeconds / 60));
    hint.replaceChildren(
      `Up to ${duration(t.approval.maxDurationSeconds)}; ${t.approval.approvals} approval${t.approval.approvals > 1 ? 's' : ''} needed.`,
      t.approval.ticketPattern ? ` The reason must name a ticket (${t.approval.ticketPattern}).` : '',
      ' Covers exactly ',
      el('code', { textContent: t.image }),
      ' running ',
      el('code', { textContent: t.command.join(' ') }),
      '.',
    );
  };
  target.addEventListener('change', describe);
  describe();

  const form = el(
    'form',
    { id: 'request-form', className: 'stacked' },
    labelled('Target ', target),
    labelled('Reason ', reason),
    labelled('Duration (minutes) ', minutes),
    hint,
    problem,
    el('button', { type: 'submit', id: 'request-submit', textContent: 'Request access' }),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    problem.textContent = '';
    void postJson<AccessRequest>('/api/access-requests', { target: target.value, reason: reason.value, durationSeconds: Number(minutes.value) * 60 })
      .then((r) => location.assign(`/access/${r.id}`))
      .catch((err: Error) => (problem.textContent = err.message));
  });

  const { requests } = await getJson<{ requests: AccessRequest[] }>('/api/access-requests?scope=mine');
  app.replaceChildren(
    el('h1', { textContent: 'Request access' }),
    gated.length ? form : el('p', { className: 'empty', textContent: 'None of your targets needs approval.' }),
    el('h2', { textContent: 'Your requests' }),
    requestTable('my-requests', requests.map((r) => requestRow(r)), 'You have not asked for access yet.'),
  );
}

export async function renderAccessRequest(app: HTMLElement, id: string): Promise<() => void> {
  // Read at click time from the page as it is: a refresh keeps the field the user typed in.
  const comment = () => (document.getElementById('decision-comment') as HTMLInputElement | null)?.value ?? '';
  // The refreshed part and, outside it, the error line (a refresh must not wipe a message).
  const view = el('div', { id: 'request-view' });
  const problem = el('p', { className: 'error', id: 'action-error', role: 'alert' });
  app.replaceChildren(view, problem);
  // A decision the broker sent through a fresh sign-in comes back here: its comment is kept.
  const pendingKey = `sallyport.decision.${id}`;
  const act = (path: string, body: unknown): Promise<void> => {
    if (path === 'decision') sessionStorage.setItem(pendingKey, JSON.stringify(body));
    return postJson<AccessRequestDetail>(`/api/access-requests/${id}/${path}`, body).then(
      (r) => {
        sessionStorage.removeItem(pendingKey);
        problem.textContent = '';
        draw(r);
      },
      (err: Error) => void (problem.textContent = err.message),
    );
  };
  const resumeDecision = () => {
    const saved = sessionStorage.getItem(pendingKey);
    const field = document.getElementById('decision-comment') as HTMLInputElement | null;
    if (!saved || !field) return;
    const { decision, comment: kept } = JSON.parse(saved) as { decision: string; comment: string };
    if (!field.value) field.value = kept;
    problem.textContent = `You signed in again. Press ${decision === 'approve' ? 'Approve' : 'Deny'} again to ${decision}${kept ? ' with your comment' : ''}.`;
  };

  const draw = (r: AccessRequestDetail) => {
    document.title = `Access to ${r.target} (${r.status}) · Sallyport`;
    const actions = el('div', { className: 'controls', id: 'request-actions' });
    if (r.youMay.decide) {
      actions.append(
        el('label', { className: 'inline' }, 'Comment ', el('input', { id: 'decision-comment', maxLength: 2000, placeholder: 'optional' })),
        el('button', { id: 'approve', className: 'primary', textContent: 'Approve', onclick: () => void act('decision', { decision: 'approve', comment: comment() }) }),
        el('button', { id: 'deny', className: 'danger', textContent: 'Deny', onclick: () => void act('decision', { decision: 'deny', comment: comment() }) }),
      );
    }
    if (r.youMay.withdraw) actions.append(el('button', { id: 'withdraw', textContent: 'Withdraw', onclick: () => void act('withdraw', {}) }));
    if (!r.youMay.decide) sessionStorage.removeItem(pendingKey);
    // This grant, not whichever else is in force: the console's record names this request's reason.
    if (r.youMay.openConsole) actions.append(link(`/console/${encodeURIComponent(r.target)}?grant=${encodeURIComponent(r.id)}`, 'Open console', { className: 'button primary open-console', id: 'open-console' }));
    if (r.youMay.handBack) {
      actions.append(
        confirmButton(
          { text: 'Hand back', what: `your access to ${r.target}`, className: 'hand-back', id: 'hand-back' },
          { dialogId: 'hand-back-dialog', message: 'The grant ends now, before it expires; a console opened with it ends too. You would need a new approval to come back.' },
          () => act('hand-back', {}),
        ),
      );
    }
    // More time for a grant in force: a request of its own, decided like any other; approved,
    // the consoles running under this grant run on under it.
    if (r.youMay.extend) {
      const reason = el('input', { id: 'extend-reason', maxLength: 4000, placeholder: 'why more time is needed' });
      const minutes = el('input', { id: 'extend-minutes', type: 'number', min: '1', value: String(Math.max(1, Math.round(r.durationSeconds / 60))) });
      actions.append(
        el(
          'form',
          { id: 'extend', className: 'inline', onsubmit: (e: Event) => {
            e.preventDefault();
            void postJson<AccessRequestDetail>(`/api/access-requests/${id}/extend`, { reason: reason.value, durationSeconds: Math.round(Number(minutes.value) * 60) }).then(
              (x) => void (location.href = `/access/${x.id}`),
              (err: Error) => void (problem.textContent = err.message),
            );
          } },
          el('label', { className: 'inline' }, 'More time: ', reason),
          el('label', { className: 'inline' }, ' minutes ', minutes),
          el('button', { type: 'submit', textContent: 'Ask for more time' }),
        ),
      );
    }
    // The requester hands back; an approver revokes, asked the same way as on the Approvals page.
    if (r.youMay.revoke && !r.youMay.handBack) actions.append(revokeButton(r, (reason) => act('revoke', { reason })));

    const decisions = r.decisions.length
      ? el('ul', { id: 'decisions' }, ...r.decisions.map((d) => el('li', {}, `${d.approver}: ${d.decision}${d.comment ? ` — “${d.comment}”` : ''} `, timeEl(d.decidedAt))))
      : el('p', { className: 'empty', id: 'decisions', textContent: 'No decisions yet.' });
    patch(
      view,
      el('h1', {}, `Access to ${r.target} `, statusBadge(r)),
      el('p', { id: 'request-state', className: `state state-${r.status}`, role: 'status', textContent: stateLine(r) }),
      r.extends ? el('p', { id: 'extends', className: 'meta' }, 'Asks more time for ', link(`/access/${r.extends}`, 'an earlier grant'), ': approved, its running consoles go on under this one.') : '',
      r.opensConsole.ok || r.status !== 'approved' ? '' : el('p', { className: 'error', id: 'grant-unusable', textContent: `This grant does not open a console: ${r.opensConsole.why}` }),
      r.equalGrantInForce
        ? el(
            'p',
            { className: 'warning', id: 'equal-grant' },
            `${r.requester} already holds an approved grant for exactly this console until `,
            timeEl(r.equalGrantInForce.expiresAt),
            ` (“${r.equalGrantInForce.reason}”, `,
            link(`/access/${r.equalGrantInForce.id}`, 'that request'),
            '). Consoles opened from each request’s page run under that request.',
          )
        : '',
      el('h2', { textContent: 'Exact console' }),
      exactConsole(r),
      el(
        'dl',
        {},
        el('dt', { textContent: 'Requested by' }),
        el('dd', { id: 'requester' }, `${r.requester}, `, timeEl(r.createdAt)),
        el('dt', { textContent: 'Reason' }),
        el('dd', { id: 'reason', textContent: r.reason }),
        el('dt', { textContent: 'Duration' }),
        el('dd', { textContent: `${duration(r.durationSeconds)}${r.maxSessions === null ? '' : `, ${count(r.maxSessions, 'session')}; ${r.sessionsUsed} used`}` }),
        el('dt', { textContent: 'Who can approve' }),
        el('dd', { id: 'approvers', textContent: `${r.approvers.users.join(', ') || 'nobody has logged in yet'} (groups: ${r.approvers.groups.join(', ')}); ${count(r.approvalsNeeded, 'approval')} needed` }),
      ),
      el('h2', { textContent: 'Decisions' }),
      decisions,
      r.sessions.length ? el('h2', { textContent: 'Sessions opened with this grant' }) : '',
      r.sessions.length ? el('ul', { id: 'grant-sessions' }, ...r.sessions.map((s) => el('li', { id: `grant-session-${s.id}` }, link(`/sessions/${s.id}`, `${absoluteTime(s.startedAt)}${s.endedAt ? '' : ' (live)'}`)))) : '',
      actions,
    );
  };

  draw(await getJson<AccessRequestDetail>(`/api/access-requests/${id}`));
  resumeDecision();
  // The state changes elsewhere (an approver, the clock): follow it live while the page is open.
  const timer = setInterval(() => void getJson<AccessRequestDetail>(`/api/access-requests/${id}`).then(draw, () => undefined), 2000);
  return () => clearInterval(timer);
}

function stateLine(r: AccessRequest): string {
  switch (r.status) {
    case 'pending':
      return 'Waiting for approval.';
    case 'approved':
      return `Approved until ${when(r.expiresAt)}.`;
    case 'denied':
      return `Denied${r.statusReason ? `: ${r.statusReason}` : ''}.`;
    case 'withdrawn':
      return 'Withdrawn by the requester.';
    case 'expired':
      return `Expired at ${when(r.expiresAt)}.`;
    case 'revoked':
      return `Revoked${r.statusReason ? `: ${r.statusReason}` : ''}.`;
  }
}

function labelled(text: string, control: HTMLElement): HTMLLabelElement {
  const label = document.createElement('label');
  label.append(text, control);
  return label;
}
