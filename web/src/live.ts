// The Live page (admins): running sessions, each with Watch (a read-only xterm fed by the
// broker's watch socket; the user is told) and Terminate (with a reason the user sees).
import './csp-styles.js';
import '@xterm/xterm/css/xterm.css';
import { Terminal } from '@xterm/xterm';
import { getJson, postJson } from './api.js';
import { timeEl } from './format.js';
import { parseServerControl } from '../../server/http/console-wire.js';
import { confirmButton } from './confirm.js';
import { el, patch } from './dom.js';
import { scaleToFit, TERMINAL_TEXT } from './terminal-options.js';

interface LiveSession {
  id: string;
  username: string;
  target: string;
  image: string;
  startedAt: string;
  grantId: string | null;
  watchers: string[];
}

export async function renderLive(app: HTMLElement): Promise<() => void> {
  const problem = el('p', { className: 'error', id: 'live-error', role: 'alert' });
  const viewer = el('section', { id: 'watch' });
  const list = el('div', { id: 'live-list' });
  let watching: { id: string; close: () => void } | undefined;

  const watch = (s: LiveSession) => {
    watching?.close();
    const status = el('p', { id: 'watch-status', className: 'meta', textContent: `watching ${s.username} on ${s.target} (read-only)` });
    const host = el('div', { id: 'watch-terminal', className: 'terminal watch-terminal' });
    viewer.replaceChildren(status, host);
    const term = new Terminal({ ...TERMINAL_TEXT, disableStdin: true, scrollback: 2000, cursorBlink: false });
    term.open(host);
    const unfit = scaleToFit(term, host);
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/sessions/${s.id}/watch`);
    ws.binaryType = 'arraybuffer';
    ws.addEventListener('message', (ev) => {
      if (ev.data instanceof ArrayBuffer) return term.write(new Uint8Array(ev.data));
      const m = parseServerControl(String(ev.data));
      if (m?.type === 'watching' || m?.type === 'resize') term.resize(m.cols, m.rows);
      else if (m?.type === 'exit') status.textContent = `session ended (${m.reason})`;
      else if (m?.type === 'error') status.textContent = `cannot watch: ${m.message}`;
    });
    watching = {
      id: s.id,
      close: () => {
        unfit();
        ws.close();
        term.dispose();
      },
    };
  };

  const draw = async () => {
    const { sessions } = await getJson<{ sessions: LiveSession[] }>('/api/live');
    const rows = sessions.map((s) => {
      const row = el(
        'tr',
        { className: 'live-session' },
        el('td', { textContent: s.username }),
        el('td', { textContent: s.target }),
        el('td', {}, timeEl(s.startedAt)),
        el('td', { textContent: s.grantId ? 'yes' : '' }),
        el('td', { className: 'watchers', textContent: s.watchers.join(', ') }),
        el(
          'td',
          {},
          el('button', { className: 'watch', textContent: 'Watch', ariaLabel: `Watch ${s.username}'s console on ${s.target}`, onclick: () => watch(s) }),
          ' ',
          confirmButton(
            { text: 'Terminate', what: `${s.username}'s console on ${s.target}`, className: 'terminate danger' },
            {
              dialogId: 'terminate-dialog',
              message: 'The process is killed now and the user sees your name and reason. The recording is kept.',
              reason: { label: 'Reason ', placeholder: 'shown to the user' },
            },
            (reason) => postJson(`/api/sessions/${s.id}/terminate`, { reason }).then(draw).catch((err: Error) => void (problem.textContent = err.message)),
          ),
        ),
      );
      row.dataset.sessionId = s.id;
      row.dataset.key = s.id;
      return row;
    });
    const head = el('tr', {}, ...['User', 'Target', 'Started', 'Grant', 'Watched by', ''].map((h) => el('th', { textContent: h })));
    // Patched, not rebuilt: a focused Watch or Terminate button keeps focus across refreshes.
    patch(
      list,
      rows.length
        ? el('div', { className: 'table-wrap' }, el('table', { className: 'sessions', id: 'live-sessions' }, el('thead', {}, head), el('tbody', {}, ...rows)))
        : el('p', { className: 'empty', textContent: 'No console is running.' }),
    );
  };
  app.replaceChildren(el('h1', { textContent: 'Live sessions' }), list, problem, viewer);
  await draw();
  const timer = setInterval(() => void draw().catch(() => undefined), 2000);
  return () => {
    clearInterval(timer);
    watching?.close();
  };
}
