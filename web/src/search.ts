// The Search page: words shown on screen or typed, across every recording you may see
// (everyone's for auditors and admins), filtered by user, target, time and approval. Each hit
// opens the replay at its moment.
import { getJson } from './api.js';
import { el, link } from './dom.js';
import { absoluteTime } from './format.js';

interface Result {
  sessionId: string;
  username: string;
  target: string;
  startedAt: string;
  grantId: string | null;
  t: number;
  kind: 'output' | 'input';
  snippet: string;
}

export async function renderSearch(app: HTMLElement): Promise<void> {
  const params = new URLSearchParams(location.search);
  const field = (name: string, label: string, placeholder: string, type = 'text') => {
    const i = document.createElement('input');
    Object.assign(i, { name, id: `search-${name}`, placeholder, type, value: params.get(name) ?? '' });
    return el('label', {}, label, i);
  };
  const approved = document.createElement('input');
  Object.assign(approved, { type: 'checkbox', name: 'approved', value: 'true', id: 'search-approved', checked: params.get('approved') === 'true' });
  const approvedLabel = document.createElement('label');
  approvedLabel.append(approved, ' approved sessions only');
  const form = el(
    'form',
    { id: 'search-form', className: 'filters', method: 'get', action: '/search', role: 'search' },
    field('q', 'Words', 'words or part of a name', 'search'),
    field('user', 'User', 'any'),
    field('target', 'Target', 'any'),
    approvedLabel,
    el('button', { type: 'submit', className: 'primary', textContent: 'Search' }),
  );
  const results = el('div', { id: 'search-results' });
  app.replaceChildren(el('h1', { textContent: 'Search recordings' }), form, results);
  const q = params.get('q');
  if (!q) return;
  const query = new URLSearchParams({ q });
  for (const k of ['user', 'target']) if (params.get(k)) query.set(k, params.get(k)!);
  if (params.get('approved') === 'true') query.set('approved', 'true');
  const { results: hits } = await getJson<{ results: Result[] }>(`/api/search?${query}`);
  // One group per session, in the order the broker ranked them (newest first), its hits in time.
  const groups = new Map<string, Result[]>();
  for (const h of hits) groups.set(h.sessionId, [...(groups.get(h.sessionId) ?? []), h]);
  const words = [q, ...q.split(/\s+/)].map((w) => w.replace(/^"|"$/g, '')).filter((w) => w.length > 0);
  results.replaceChildren(
    hits.length
      ? el(
          'ol',
          { className: 'hit-sessions' },
          ...[...groups.values()].map((group) => {
            const first = group[0]!;
            const section = el(
              'li',
              { className: 'hit-session' },
              el('h2', {}, link(`/sessions/${first.sessionId}`, `${first.username} on ${first.target}`, { className: 'hit-session-link' }), ` ${absoluteTime(first.startedAt)}${first.grantId ? ' · approved access' : ''} · ${group.length} match${group.length === 1 ? '' : 'es'}`),
              el(
                'ol',
                { className: 'hits' },
                ...group.map((h) => {
                  const li = el(
                    'li',
                    { className: 'hit' },
                    link(`/sessions/${h.sessionId}?t=${(Math.ceil(Math.max(0, h.t) * 100) / 100).toFixed(2)}`, `at ${h.t.toFixed(1)} s`, { className: 'hit-link', ariaLabel: `${h.username} on ${h.target} at ${h.t.toFixed(1)} s` }),
                    ` ${h.kind === 'input' ? 'typed' : 'on screen'} `,
                    highlighted(h.snippet, words),
                  );
                  li.dataset.sessionId = h.sessionId;
                  li.dataset.kind = h.kind;
                  return li;
                }),
              ),
            );
            section.dataset.sessionId = first.sessionId;
            return section;
          }),
        )
      : el('p', { className: 'empty', textContent: 'Nothing found.' }),
  );
}

/** The snippet with every occurrence of the query (or one of its words) marked, as text nodes only. */
function highlighted(snippet: string, words: string[]): HTMLElement {
  const code = el('code', { className: 'snippet' });
  const escaped = [...new Set(words)].sort((a, b) => b.length - a.length).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const re = new RegExp(`(${escaped.join('|')})`, 'gi');
  let at = 0;
  for (const m of snippet.matchAll(re)) {
    if (m.index! > at) code.append(snippet.slice(at, m.index));
    code.append(el('mark', { textContent: m[0] }));
    at = m.index! + m[0].length;
  }
  if (at < snippet.length) code.append(snippet.slice(at));
  return code;
}
