// The Sessions page: your console sessions (everyone's for auditors and admins), newest first,
// narrowed by user, target, date range, approval and front door, a page at a time. The filter
// lives in the address (/sessions?user=alice&via=ssh), so a filtered list can be shared.
import { getJson, type Me, type SessionSummary } from './api.js';
import { el, link } from './dom.js';
import { bytes, duration, timeEl } from './format.js';

const FILTERS = ['user', 'target', 'from', 'to', 'approved', 'via', 'state'] as const;

export async function renderSessions(app: HTMLElement, me: Me): Promise<void> {
  const query = new URLSearchParams(location.search);
  const api = new URLSearchParams();
  for (const k of [...FILTERS, 'before', 'limit'] as const) {
    const v = query.get(k);
    if (v) api.set(k, k === 'from' || k === 'to' ? localDay(v, k === 'to') : v);
  }
  const form = filterForm(query, me);
  let answer: { sessions: SessionSummary[]; next: string | null };
  try {
    answer = await getJson<{ sessions: SessionSummary[]; next: string | null }>(`/api/sessions?${api}`);
  } catch (err) {
    app.replaceChildren(el('h1', { textContent: 'Console sessions' }), form, el('p', { className: 'error', id: 'sessions-error', role: 'alert', textContent: (err as Error).message }));
    return;
  }
  const { sessions, next } = answer;
  const head = el('tr', {}, ...['Who', 'Target', 'Door', 'Started', 'Duration', 'Ended by', 'Reason', 'Output', ''].map((h) => el('th', { scope: 'col', textContent: h })));
  const rows = sessions.map((s) => {
    const row = el(
      'tr',
      { className: s.endedAt ? 'session' : 'session live' },
      el('td', { textContent: s.username }),
      el(
        'td',
        {},
        s.target,
        s.approved ? el('span', { className: 'badge approved', textContent: 'approved', title: 'opened with a just-in-time grant' }) : '',
        s.quietInput
          ? el('span', { className: 'badge warning quiet-input', textContent: 'input hidden', title: `${s.maskedInputChars} characters were typed without echo (stty -echo?): the recording shows them masked` })
          : '',
        s.recording?.heldSince ? el('span', { className: 'badge held', textContent: 'legal hold', title: 'retention keeps this recording until the hold is released' }) : '',
      ),
      el('td', {
        className: `door door-${s.via}`,
        textContent: `${s.via === 'ssh' ? 'SSH' : 'browser'}${s.clientAddress ? `, ${s.clientAddress}` : ''}`,
        title: s.clientVersion ?? '',
      }),
      el('td', {}, timeEl(s.startedAt)),
      el('td', {}, s.endedAt ? (s.durationSeconds === null ? '' : duration(s.durationSeconds)) : el('span', { className: 'badge live', textContent: 'live' })),
      el('td', { className: 'ended-by', textContent: s.endedBy ?? '' }),
      el('td', { className: 'end-reason', textContent: `${s.endReason ?? ''}${s.exitCode === null ? '' : ` (exit ${s.exitCode})`}` }),
      el('td', { className: 'bytes', textContent: bytes(s.bytesOut), title: `${s.bytesOut} bytes out, ${s.bytesIn} in` }),
      // A console that never started has nothing to replay.
      el(
        'td',
        {},
        s.recording?.expiredAt
          ? link(`/sessions/${s.id}`, 'expired', { className: 'expired-link', ariaLabel: `${s.username}'s recording on ${s.target}, removed by retention` })
          : s.recording && s.endCode !== 'failed_to_start'
            ? link(`/sessions/${s.id}`, 'Replay', { className: 'replay-link', ariaLabel: `Replay ${s.username}'s session on ${s.target}` })
            : '',
      ),
    );
    row.dataset.sessionId = s.id;
    return row;
  });
  const pageLinks = el('nav', { className: 'paging', ariaLabel: 'Pages' });
  if (query.get('before')) {
    const newest = new URLSearchParams(query);
    newest.delete('before');
    pageLinks.append(link(`/sessions${newest.size ? `?${newest}` : ''}`, '« Newest', { id: 'page-newest' }));
  }
  if (next) {
    const older = new URLSearchParams(query);
    older.set('before', next);
    pageLinks.append(link(`/sessions?${older}`, 'Older »', { id: 'page-older' }));
  }
  app.replaceChildren(
    el('h1', { textContent: 'Console sessions' }),
    form,
    sessions.length
      ? el('div', { className: 'table-wrap' }, el('table', { className: 'sessions', id: 'sessions' }, el('thead', {}, head), el('tbody', {}, ...rows)))
      : el('p', { className: 'empty', id: 'sessions-empty', textContent: api.size ? 'No session matches.' : 'No sessions yet.' }),
    pageLinks,
  );
}

function filterForm(query: URLSearchParams, me: Me): HTMLFormElement {
  const text = (name: string, label: string, type = 'text', list?: string) => {
    const input = el('input', { name, id: `filter-${name}`, type, value: query.get(name) ?? '' });
    if (list) input.setAttribute('list', list);
    return el('label', {}, label, input);
  };
  const choice = (name: string, label: string, options: Array<[string, string]>) => {
    const select = el('select', { name, id: `filter-${name}` });
    for (const [value, text] of options) select.add(new Option(text, value, false, (query.get(name) ?? '') === value));
    return el('label', {}, label, select);
  };
  const targets = el('datalist', { id: 'filter-targets' }, ...me.targets.map((t) => el('option', { value: t.name })));
  const form = el(
    'form',
    { id: 'session-filters', className: 'filters', role: 'search' },
    text('user', 'User'),
    text('target', 'Target', 'text', 'filter-targets'),
    targets,
    text('from', 'From', 'date'),
    text('to', 'To', 'date'),
    choice('approved', 'Approval', [['', 'any'], ['yes', 'approved'], ['no', 'not needed']]),
    choice('via', 'Door', [['', 'any'], ['web', 'browser'], ['ssh', 'SSH']]),
    choice('state', 'State', [['', 'any'], ['live', 'live'], ['ended', 'ended']]),
    el('button', { type: 'submit', className: 'primary', id: 'filter-apply', textContent: 'Filter' }),
    link('/sessions', 'Clear', { id: 'filter-clear' }),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    // Only the fields given: the address stays short and an empty field filters nothing.
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (typeof v === 'string' && v.trim()) q.set(k, v.trim());
    location.assign(`/sessions${q.size ? `?${q}` : ''}`);
  });
  return form;
}

/** A date picked here means that day in the viewer's time zone: its start, or the next day's for "to". */
function localDay(value: string, end: boolean): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!m) return value;
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + (end ? 1 : 0)).toISOString();
}
