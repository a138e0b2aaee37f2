// The Audit page (auditors, admins): the audit log newest first, filtered by action prefix and
// subject (a request, a session or a grant), so one request's whole story reads top to bottom.
// The same filter downloads as JSON lines or CSV (oldest first; the export is itself audited).
import { getJson } from './api.js';
import { when } from './format.js';
import { el, link } from './dom.js';

interface AuditEvent {
  seq: string;
  at: string;
  actor: string;
  action: string;
  subject: string | null;
  details: Record<string, unknown>;
}

export async function renderAudit(app: HTMLElement): Promise<void> {
  const params = new URLSearchParams(location.search);
  const action = el('input', { id: 'audit-action', name: 'action', placeholder: 'e.g. access. or console.ended', value: params.get('action') ?? '' });
  const subject = el('input', { id: 'audit-subject', name: 'subject', placeholder: 'request, session or grant id', value: params.get('subject') ?? '' });
  const form = el(
    'form',
    { id: 'audit-filter', className: 'filters', method: 'get', action: '/audit', role: 'search' },
    el('label', {}, 'Action', action),
    el('label', {}, 'Subject', subject),
    el('button', { type: 'submit', className: 'primary', textContent: 'Filter' }),
  );
  const query = new URLSearchParams();
  for (const k of ['action', 'subject', 'before']) if (params.get(k)) query.set(k, params.get(k)!);
  const { events } = await getJson<{ events: AuditEvent[] }>(`/api/audit?${query}`);

  const subjectCell = (e: AuditEvent) => {
    if (!e.subject) return '';
    if (e.action.startsWith('access.')) return link(`/access/${e.subject}`, e.subject.slice(0, 8));
    if (e.action.startsWith('console.')) return link(`/sessions/${e.subject}`, e.subject.slice(0, 8));
    return e.subject;
  };
  const rows = events.map((e) => {
    const row = el(
      'tr',
      { className: 'audit-event' },
      el('td', { textContent: e.seq }),
      el('td', { textContent: when(e.at) }),
      el('td', { className: 'actor', textContent: e.actor }),
      el('td', { className: 'action', textContent: e.action }),
      el('td', {}, subjectCell(e)),
      el('td', {}, el('code', { className: 'details', textContent: JSON.stringify(e.details) })),
    );
    row.dataset.action = e.action;
    return row;
  });
  const head = el('tr', {}, ...['#', 'When', 'Who', 'What', 'Subject', 'Details'].map((h) => el('th', { textContent: h })));
  const exportQuery = (format: string) => {
    const q = new URLSearchParams({ format });
    for (const k of ['action', 'subject']) if (params.get(k)) q.set(k, params.get(k)!);
    return `/api/audit/export?${q}`;
  };
  const exports = el(
    'p',
    { className: 'controls', id: 'audit-export' },
    'Export what this filter matches, oldest first: ',
    el('a', { id: 'audit-export-jsonl', href: exportQuery('jsonl'), download: '', textContent: 'JSON lines' }),
    ' · ',
    el('a', { id: 'audit-export-csv', href: exportQuery('csv'), download: '', textContent: 'CSV' }),
  );
  const older = events.length === 100 ? link(`/audit?${new URLSearchParams({ ...Object.fromEntries(query), before: events.at(-1)!.seq })}`, 'Older events') : '';
  app.replaceChildren(
    el('h1', { textContent: 'Audit log' }),
    form,
    exports,
    rows.length ? el('div', { className: 'table-wrap' }, el('table', { className: 'sessions audit', id: 'audit-events' }, el('thead', {}, head), el('tbody', {}, ...rows))) : el('p', { className: 'empty', textContent: 'No events match.' }),
    older,
  );
}
