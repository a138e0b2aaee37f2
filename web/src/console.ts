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
  // The console this tab carries, kept in the tab (sessionStorage: it survives a reload, not the
  // tab) with the key to carry on with it when the socket drops; never in a URL.
  const slot = `sallyport.console.${target}`;
  const remembered = (): { sessionId: string; key: string } | undefined => {
    try {
      const v = JSON.parse(sessionStorage.getItem(slot) ?? 'null') as { sessionId?: unknown; key?: unknown } | null;
      return typeof v?.sessionId === 'string' && typeof v.key === 'string' ? { sessionId: v.sessionId, key: v.key } : undefined;
    } catch {
      return undefined;
    }
  };
  const forget = () => sessionStorage.removeItem(slot);
  let ws: WebSocket | undefined;
  let ended = false;
  // Backoff between reattach attempts; reset once one succeeds.
  let retryMs = 500;
  let reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  const send = (msg: ClientControl) => {
    if (ws?.readyState === WebSocket.OPEN) ws.send(encodeControl(msg));
  };
  function sendKeys(data: string): void {
    if (ws?.readyState === WebSocket.OPEN) for (const frame of encodeInput(data)) ws.send(frame);
    term.focus();
  }
  const endOfConsole = () => {
    ended = true;
    forget();
    term.options.disableStdin = true;
    // Gone, not hidden: the buttons' own display would override the hidden attribute.
    endButton.remove();
    keys.remove();
    clearInterval(ticker);
    timeLeft.textContent = '';
    offerNext();
  };

  /** One socket: it opens a console, or carries on with the one this tab had (`takeover`: from another window). */
  const connect = (takeover = false) => {
    const again = remembered();
    const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/consoles/${encodeURIComponent(target)}/connect${grant && !again ? `?grant=${encodeURIComponent(grant)}` : ''}`);
    ws = socket;
    socket.binaryType = 'arraybuffer';
    socket.addEventListener('open', () =>
      send(again ? { type: 'reattach', sessionId: again.sessionId, key: again.key, takeover, cols: term.cols, rows: term.rows } : { type: 'open', cols: term.cols, rows: term.rows }),
    );
    socket.addEventListener('message', (ev) => {
      // Output: the bytes as the process wrote them; xterm decodes UTF-8 across writes.
      if (ev.data instanceof ArrayBuffer) return term.write(new Uint8Array(ev.data));
      const m = parseServerControl(String(ev.data));
      switch (m?.type) {
        case 'started':
          retryMs = 500;
          status.textContent = m.reattached ? 'reconnected' : 'connected';
          status.className = 'status';
          status.dataset.sessionId = m.sessionId;
          term.options.disableStdin = false;
          if (m.reattachKey) sessionStorage.setItem(slot, JSON.stringify({ sessionId: m.sessionId, key: m.reattachKey }));
          // The screen follows: drawn afresh from the console's recent output.
          if (m.reattached) term.reset();
          next.replaceChildren();
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
        case 'moved':
          // Another window of this login carries it now: this one stops, and does not come back for it.
          ended = true;
          status.textContent = m.message;
          status.className = 'status ended';
          term.options.disableStdin = true;
          offerTakeover('Take it back');
          break;
        case 'error':
          if (again && m.code === 'NOT_FOUND') {
            // The console this tab had has ended: a reload opens a new one, as it always did.
            forget();
            term.reset();
            status.textContent = 'the console this tab had has ended; opening a new one…';
            ended = true;
            setTimeout(() => ((ended = false), connect()), 0);
            break;
          }
          ended = true;
          status.textContent = `error: ${m.message}`;
          status.className = 'status error';
          if (m.code === 'CONFLICT') {
            offerTakeover('Take over');
            break;
          }
          if (again) forget();
          // The next step, where there is one: a grant to ask for.
          if (m.code === 'APPROVAL_REQUIRED') next.append(link(`/access?target=${encodeURIComponent(target)}`, 'Request access', { id: 'request-access', className: 'button primary' }));
          offerNext();
          break;
        case 'exit': {
          const code = exitWords(m.exitCode);
          status.textContent = `ended (${m.reason})${code}`;
          status.className = 'status ended';
          term.write(`\r\n\x1b[2m[session ended: ${m.reason}${code}]\x1b[0m\r\n`);
          endOfConsole();
          break;
        }
      }
    });
    socket.addEventListener('close', (ev) => {
      if (ws !== socket) return;
      term.options.disableStdin = true;
      if (ended) return;
      // Dropped (a blip, a broker restarting): come back for the same console, with backoff.
      if (remembered()) {
        status.textContent = 'reconnecting…';
        status.className = 'status warn';
        // This tab's own console: taken back from the socket that dropped, which the broker may
        // not have seen go yet (a network that vanished sends no close).
        reconnectTimer = setTimeout(() => connect(true), retryMs);
        retryMs = Math.min(retryMs * 2, 8000);
        return;
      }
      status.textContent = `disconnected${ev.reason ? `: ${ev.reason}` : ''}`;
      status.className = 'status error';
      offerNext();
    });
  };
  /** The console is carried by another window: this one may take it (that one then stops). */
  const offerTakeover = (label: string) => {
    next.replaceChildren(
      el('button', {
        id: 'take-over',
        className: 'button primary',
        type: 'button',
        textContent: label,
        onclick: () => {
          next.replaceChildren();
          ended = false;
          clearTimeout(reconnectTimer);
          status.textContent = 'connecting…';
          connect(true);
        },
      }),
      el('button', { id: 'watch-here', className: 'button', type: 'button', textContent: 'Watch', onclick: () => watchHere() }),
      link(`/console/${encodeURIComponent(target)}`, 'New console', { id: 'new-console', className: 'button', onclick: () => forget() }),
    );
  };
  /** Read-only: what the other window's console shows, here (a watcher of one's own console). */
  const watchHere = () => {
    const id = remembered()?.sessionId;
    if (!id) return;
    next.replaceChildren(
      el('button', {
        id: 'take-over',
        className: 'button primary',
        type: 'button',
        textContent: 'Take over',
        onclick: () => {
          socket.close();
          next.replaceChildren();
          ended = false;
          status.textContent = 'connecting…';
          connect(true);
        },
      }),
    );
    term.reset();
    term.options.disableStdin = true;
    status.textContent = 'watching (read-only): this console is open in another window';
    status.className = 'status';
    const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/sessions/${encodeURIComponent(id)}/watch`);
    socket.binaryType = 'arraybuffer';
    socket.addEventListener('message', (ev) => {
      if (ev.data instanceof ArrayBuffer) return term.write(new Uint8Array(ev.data));
      const m = parseServerControl(String(ev.data));
      if (m?.type === 'exit') {
        status.textContent = `ended (${m.reason})`;
        status.className = 'status ended';
        endOfConsole();
      } else if (m?.type === 'error') status.textContent = `cannot watch: ${m.message}`;
    });
  };
  // A reload is this tab coming back for its own console; any other way here with the key (a
  // duplicated tab) must choose between taking it over and watching it.
  const reloaded = (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined)?.type === 'reload';
  connect(reloaded);
  term.onData((data) => {
    lastKey = Date.now();
    if (ws?.readyState === WebSocket.OPEN) for (const frame of encodeInput(data)) ws.send(frame);
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
