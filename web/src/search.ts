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
  results.replaceChildren(
    hits.length
      ? el(
          'ol',
          { className: 'hits' },
          ...hits.map((h) => {
            const li = el(
              'li',
              { className: 'hit' },
              link(`/sessions/${h.sessionId}?t=${(Math.ceil(Math.max(0, h.t) * 100) / 100).toFixed(2)}`, `${h.username} on ${h.target}, ${absoluteTime(h.startedAt)} at ${h.t.toFixed(1)} s`, { className: 'hit-link' }),
              ` (${h.kind === 'input' ? 'typed' : 'on screen'}${h.grantId ? ', approved access' : ''}) `,
              el('code', { textContent: h.snippet }),
            );
            li.dataset.sessionId = h.sessionId;
            li.dataset.kind = h.kind;
            return li;
          }),
        )
      : el('p', { className: 'empty', textContent: 'Nothing found.' }),
  );
}
