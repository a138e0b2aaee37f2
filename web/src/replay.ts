// The Replay page: plays a recording in xterm.js with play/pause, speed 0.5×–8×, a scrubber to
// seek, skip-idle, and a download of the asciicast file. Seeking replays from the start;
// keyframes for long recordings come with the auditor's-evidence work.
import './csp-styles.js';
import '@xterm/xterm/css/xterm.css';
import { Terminal } from '@xterm/xterm';
import { getJson, type SessionSummary } from './api.js';
import { el, link } from './dom.js';

function input(props: { id: string; type: string; checked?: boolean; min?: string; step?: string; value?: string }): HTMLInputElement {
  return Object.assign(document.createElement('input'), props);
}

function labelled(before: string, control: HTMLElement, after: string): HTMLLabelElement {
  const label = document.createElement('label');
  label.append(before, control, after);
  return label;
}

interface Ev {
  t: number;
  code: string;
  data: string;
}

/** Gaps longer than this are shortened to it when "skip idle" is on. */
const IDLE_CAP_SECONDS = 1;

export async function renderReplay(app: HTMLElement, id: string): Promise<void> {
  const meta = await getJson<SessionSummary>(`/api/sessions/${encodeURIComponent(id)}`);
  const res = await fetch(`/api/sessions/${encodeURIComponent(id)}/recording`, { credentials: 'same-origin' });
  if (!res.ok) throw new Error(`recording unavailable (${res.status})`);
  const lines = (await res.text()).split('\n').filter(Boolean);
  const header = JSON.parse(lines[0]!) as { width: number; height: number };
  const raw: Ev[] = lines.slice(1).map((l) => {
    const [t, code, data] = JSON.parse(l) as [number, string, string];
    return { t, code, data };
  });

  const term = new Terminal({ cols: header.width, rows: header.height, disableStdin: true, fontSize: 14, scrollback: 5000 });
  const screen = el('div', { id: 'player', className: 'player' });
  const play = el('button', { id: 'play', type: 'button', textContent: 'Play' });
  const speed = document.createElement('select');
  speed.id = 'speed';
  for (const s of [0.5, 1, 2, 4, 8]) speed.add(new Option(`${s}×`, String(s), s === 1, s === 1));
  const skipIdle = input({ id: 'skip-idle', type: 'checkbox', checked: true });
  const scrub = input({ id: 'scrubber', type: 'range', min: '0', step: '0.01', value: '0' });
  const clock = el('span', { id: 'clock', className: 'clock' });
  app.replaceChildren(
    el('h1', { textContent: `Replay: ${meta.target} by ${meta.username}` }),
    el(
      'p',
      { className: 'meta' },
      `${new Date(meta.startedAt).toLocaleString()} · ${meta.endReason ?? 'live'}${meta.exitCode === null ? '' : ` (${meta.exitCode})`} · image `,
      el('code', { textContent: meta.imageId ?? meta.image }),
      ' · sha256 ',
      el('code', { id: 'recording-sha256', textContent: meta.recording?.sha256 ?? 'unsealed' }),
    ),
    el(
      'div',
      { className: 'controls' },
      play,
      labelled('Speed ', speed, ''),
      labelled('', skipIdle, ' Skip idle'),
      scrub,
      clock,
      link(`/api/sessions/${encodeURIComponent(id)}/recording`, 'Download .cast', { id: 'download', download: `sallyport-${id}.cast` }),
    ),
    screen,
  );
  term.open(screen);

  // Effective times, with idle gaps capped when skip-idle is on.
  let events: Ev[] = [];
  const retime = () => {
    let prev = 0;
    let acc = 0;
    events = raw.map((e) => {
      const gap = e.t - prev;
      prev = e.t;
      acc += skipIdle.checked ? Math.min(gap, IDLE_CAP_SECONDS) : gap;
      return { ...e, t: acc };
    });
    scrub.max = String(events.at(-1)?.t ?? 0);
  };
  retime();

  let playhead = 0;
  let next = 0;
  let playing = false;
  let last = 0;
  const apply = (e: Ev) => {
    if (e.code === 'o') term.write(e.data);
    else if (e.code === 'r') {
      const [c, r] = e.data.split('x').map(Number);
      if (c && r) term.resize(c, r);
    }
  };
  const show = () => {
    scrub.value = String(playhead);
    clock.textContent = `${playhead.toFixed(1)} / ${Number(scrub.max).toFixed(1)} s`;
  };
  const seek = (to: number) => {
    term.reset();
    term.resize(header.width, header.height);
    playhead = Math.max(0, Math.min(to, Number(scrub.max)));
    next = 0;
    let batch = '';
    while (next < events.length && events[next]!.t <= playhead) {
      const e = events[next++]!;
      if (e.code === 'o') batch += e.data;
      else {
        term.write(batch);
        batch = '';
        apply(e);
      }
    }
    term.write(batch);
    show();
  };
  const tick = (now: number) => {
    if (!playing) return;
    playhead += ((now - last) / 1000) * Number(speed.value);
    last = now;
    while (next < events.length && events[next]!.t <= playhead) apply(events[next++]!);
    if (next >= events.length) {
      playing = false;
      play.textContent = 'Play';
      playhead = Number(scrub.max);
    }
    show();
    if (playing) requestAnimationFrame(tick);
  };
  play.addEventListener('click', () => {
    if (playing) {
      playing = false;
      play.textContent = 'Play';
      return;
    }
    if (next >= events.length) seek(0);
    playing = true;
    play.textContent = 'Pause';
    last = performance.now();
    requestAnimationFrame(tick);
  });
  scrub.addEventListener('input', () => seek(Number(scrub.value)));
  skipIdle.addEventListener('change', () => {
    const fraction = playhead / Math.max(Number(scrub.max), 1e-9);
    retime();
    seek(fraction * Number(scrub.max));
  });
  show();
}
