// The Sessions page: your console sessions (everyone's for auditors and admins).
import { getJson, type SessionSummary } from './api.js';
import { el, link } from './dom.js';

export async function renderSessions(app: HTMLElement): Promise<void> {
  const { sessions } = await getJson<{ sessions: SessionSummary[] }>('/api/sessions');
  const head = el('tr', {}, ...['Who', 'Target', 'From', 'Image', 'Started', 'Ended', 'Duration', 'Exit', 'Bytes', ''].map((h) => el('th', { textContent: h })));
  const rows = sessions.map((s) => {
    const row = el(
      'tr',
      { className: 'session' },
      el('td', { textContent: s.username }),
      el('td', { textContent: s.target }),
      el('td', {
        className: `door door-${s.via}`,
        textContent: `${s.via === 'ssh' ? 'SSH' : 'browser'}${s.clientAddress ? `, ${s.clientAddress}` : ''}`,
        title: s.clientVersion ?? '',
      }),
      el('td', {}, el('code', { textContent: (s.imageId ?? s.image).slice(0, 19), title: s.imageId ?? s.image })),
      el('td', { textContent: new Date(s.startedAt).toLocaleString() }),
      el('td', { textContent: s.endedAt ? new Date(s.endedAt).toLocaleString() : 'live' }),
      el('td', { textContent: s.durationSeconds === null ? '' : `${s.durationSeconds.toFixed(1)} s` }),
      el('td', { textContent: s.exitCode === null ? (s.endReason ?? '') : String(s.exitCode), title: s.endReason ?? '' }),
      el('td', { textContent: String(s.bytesOut) }),
      el('td', {}, s.recording ? link(`/sessions/${s.id}`, 'Replay', { className: 'replay-link' }) : ''),
    );
    row.dataset.sessionId = s.id;
    return row;
  });
  app.replaceChildren(
    el('h1', { textContent: 'Console sessions' }),
    sessions.length ? el('table', { className: 'sessions', id: 'sessions' }, el('thead', {}, head), el('tbody', {}, ...rows)) : el('p', { className: 'empty', textContent: 'No sessions yet.' }),
  );
}
