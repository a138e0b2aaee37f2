// The full-window browser console: xterm.js fitted to the window, connected to the broker's
// WebSocket (the wire protocol shared with the broker). The first message opens the console with
// the terminal's size; input and output then flow as binary frames, resizes as JSON, until the
// process exits, and the exit status is shown.
import './csp-styles.js';
import '@xterm/xterm/css/xterm.css';
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import { encodeControl, encodeInput, parseServerControl, type ClientControl } from '../../server/http/console-wire.js';
import { el, link } from './dom.js';
import { TERMINAL_TEXT } from './terminal-options.js';

export function renderConsole(app: HTMLElement, target: string): void {
  document.body.classList.add('console-mode');
  const status = el('span', { id: 'console-status', className: 'status', textContent: 'connecting…' });
  const watchers = el('span', { id: 'console-watchers', className: 'watchers' });
  // Time left: the grant's end or the maximum duration, or sooner the idle timeout (each key restarts it).
  const timeLeft = el('span', { id: 'console-time-left', className: 'time-left' });
  let limits: { endsAt: number; because: 'access' | 'console'; idleSeconds: number } | undefined;
  let lastKey = Date.now();
  const showTimeLeft = () => {
    if (!limits) return;
    const now = Date.now();
    const byEnd = limits.endsAt - now;
    const byIdle = lastKey + limits.idleSeconds * 1000 - now;
    const left = Math.max(0, Math.min(byEnd, byIdle));
    const mm = Math.floor(left / 60_000);
    const ss = Math.floor((left % 60_000) / 1000);
    timeLeft.textContent = `${mm}:${String(ss).padStart(2, '0')} left`;
    timeLeft.title = byIdle < byEnd ? 'until the idle timeout (any key restarts it)' : limits.because === 'access' ? 'until your approved access ends' : 'until the console’s maximum duration';
    timeLeft.className = `time-left${left < 5 * 60_000 ? ' soon' : ''}`;
  };
  const ticker = setInterval(showTimeLeft, 1000);
  const host = el('div', { id: 'terminal', className: 'terminal' });
  const next = el('span', { id: 'console-next', className: 'next' });
  status.setAttribute('role', 'status');
  // Ends the console as the user's own choice (a runaway process, or done), recorded as such.
  const endButton = el('button', { id: 'end-session', className: 'button', type: 'button', textContent: 'End session', onclick: () => send({ type: 'end' }) });
  // On a phone there is no Ctrl, Esc or Tab key: on-screen ones send what the key would.
  const keys = el(
    'span',
    { className: 'console-keys', ariaLabel: 'Keys a phone keyboard lacks' },
    ...([['Ctrl-C', '\x03'], ['Esc', '\x1b'], ['Tab', '\t'], ['Ctrl-D', '\x04']] as const).map(([label, data]) =>
      el('button', { className: 'button key', type: 'button', textContent: label, ariaLabel: `Send ${label}`, onclick: () => sendKeys(data) }),
    ),
  );
  app.replaceChildren(el('div', { className: 'console-bar' }, el('strong', { textContent: target }), status, timeLeft, watchers, keys, endButton, next), host);
  document.title = `${target} · console · Sallyport`;
  // Once it has ended: where to go next, its recording or a fresh console.
  const offerNext = () => {
    if (next.childElementCount) return;
    const id = status.dataset.sessionId;
    next.append(
      id ? link(`/sessions/${id}`, 'Replay this session', { id: 'replay-this', className: 'button' }) : '',
      link(`/console/${encodeURIComponent(target)}`, 'New console', { id: 'new-console', className: 'button primary' }),
      link('/', 'Home', { id: 'console-home', className: 'button' }),
    );
  };

  const term = new Terminal({ ...TERMINAL_TEXT, cursorBlink: true, scrollback: 5000, allowProposedApi: false });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(host);
  fit.fit();
  term.focus();

  // Opened from a request's page: that grant (the broker refuses, naming why, if it cannot).
  const grant = new URLSearchParams(location.search).get('grant');
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/consoles/${encodeURIComponent(target)}/connect${grant ? `?grant=${encodeURIComponent(grant)}` : ''}`);
  ws.binaryType = 'arraybuffer';
  let ended = false;
  const send = (msg: ClientControl) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(encodeControl(msg));
  };
  function sendKeys(data: string): void {
    if (ws.readyState === WebSocket.OPEN) for (const frame of encodeInput(data)) ws.send(frame);
    term.focus();
  }
  ws.addEventListener('open', () => send({ type: 'open', cols: term.cols, rows: term.rows }));
  ws.addEventListener('message', (ev) => {
    // Output: the bytes as the process wrote them; xterm decodes UTF-8 across writes.
    if (ev.data instanceof ArrayBuffer) return term.write(new Uint8Array(ev.data));
    const m = parseServerControl(String(ev.data));
    switch (m?.type) {
      case 'started':
        status.textContent = 'connected';
        status.dataset.sessionId = m.sessionId;
        break;
      case 'limits':
        limits = { endsAt: Date.parse(m.endsAt), because: m.because, idleSeconds: m.idleSeconds };
        showTimeLeft();
        break;
      case 'watchers': {
        // Being watched is never silent: the bar says who, at once, in a live region (the terminal
        // is left alone: a note there broke the line the user was typing).
        const names = m.names ?? [];
        watchers.textContent = names.length ? `watched by ${names.join(', ')}` : 'nobody is watching now';
        watchers.setAttribute('role', 'status');
        break;
      }
      case 'notice':
        term.write(`\r\n\x1b[33m[sallyport] ${m.message}\x1b[0m\r\n`);
        break;
      case 'error':
        ended = true;
        status.textContent = `error: ${m.message}`;
        status.className = 'status error';
        // The next step, where there is one: a grant to ask for.
        if (m.code === 'APPROVAL_REQUIRED') next.append(link(`/access?target=${encodeURIComponent(target)}`, 'Request access', { id: 'request-access', className: 'button primary' }));
        offerNext();
        break;
      case 'exit': {
        ended = true;
        const code = exitWords(m.exitCode);
        status.textContent = `ended (${m.reason})${code}`;
        status.className = 'status ended';
        term.write(`\r\n\x1b[2m[session ended: ${m.reason}${code}]\x1b[0m\r\n`);
        term.options.disableStdin = true;
        // Gone, not hidden: the buttons' own display would override the hidden attribute.
        endButton.remove();
        keys.remove();
        clearInterval(ticker);
        timeLeft.textContent = '';
        offerNext();
        break;
      }
    }
  });
  ws.addEventListener('close', (ev) => {
    if (!ended) {
      status.textContent = `disconnected${ev.reason ? `: ${ev.reason}` : ''}`;
      status.className = 'status error';
    }
    term.options.disableStdin = true;
    offerNext();
  });
  term.onData((data) => {
    lastKey = Date.now();
    if (ws.readyState === WebSocket.OPEN) for (const frame of encodeInput(data)) ws.send(frame);
  });
  term.onResize(({ cols, rows }) => send({ type: 'resize', cols, rows }));
  window.addEventListener('resize', () => fit.fit());
}

/** An exit status in words: a signal's number says nothing to most people. */
function exitWords(exitCode: number | null): string {
  if (exitCode === null) return '';
  if (exitCode === 137) return ' (killed: out of memory, or stopped)';
  if (exitCode === 130) return ' (interrupted: Ctrl-C)';
  if (exitCode > 128 && exitCode < 160) return ` (stopped by signal ${exitCode - 128})`;
  return exitCode === 0 ? '' : ` with status ${exitCode}`;
}
