// The Replay page. It never downloads a whole recording: it loads the index (chunk time spans
// and keyframes), and to show time T restores the nearest keyframe before T and replays only
// the chunks from there to T; while playing, it fetches a few chunks ahead of the playhead.
// Beside the player, the command timeline (reconstructed from input) jumps to each command.
// Recorded escape sequences stay inert: no clipboard, title, report or link actions.
import './csp-styles.js';
import '@xterm/xterm/css/xterm.css';
import { Terminal } from '@xterm/xterm';
import { getJson, postJson, type Me, type SessionSummary } from './api.js';
import { confirmButton } from './confirm.js';
import { el, link } from './dom.js';
import { absoluteTime, bytes, duration } from './format.js';
import { scaleToFit, TERMINAL_TEXT } from './terminal-options.js';

interface Ev {
  t: number;
  code: string;
  data: string;
}
interface Index {
  width: number;
  height: number;
  duration: number;
  chunks: Array<[number, number, number, number]>;
  keyframes: Array<[number, number, number]>;
}
interface Keyframe {
  t: number;
  afterChunk: number;
  cols: number;
  rows: number;
  screen: string;
}

/** Gaps longer than this are shortened to it when "skip idle" is on. */
const IDLE_CAP_SECONDS = 1;
const MAX_CHUNKS_PER_REQUEST = 16;
const PREFETCH_CHUNKS = 4;

function input(props: { id: string; type: string; checked?: boolean; min?: string; step?: string; value?: string; max?: string }): HTMLInputElement {
  const node = document.createElement('input');
  Object.assign(node, props);
  return node;
}

/**
 * A legal hold, for auditors and admins: retention keeps a held recording until it is released.
 * Both ask for a reason (audited); the page is drawn again with the broker's answer.
 */
function holdControl(id: string, meta: SessionSummary, me: Me, redraw: () => void): HTMLElement | string {
  if (!meta.recording || !me.user.roles.some((r) => r === 'auditor' || r === 'admin')) return '';
  const base = `/api/sessions/${encodeURIComponent(id)}/hold`;
  const problem = el('span', { className: 'error', role: 'alert' });
  const what = `${meta.username}'s recording on ${meta.target}`;
  const held = meta.recording.heldSince;
  return el(
    'p',
    { id: 'legal-hold', className: 'meta' },
    held ? el('span', { className: 'badge', id: 'held-badge', textContent: `On legal hold since ${absoluteTime(held)}` }) : '',
    ' ',
    held
      ? confirmButton(
          { text: 'Release hold', what, className: 'release-hold', id: 'release-hold' },
          { dialogId: 'release-hold-dialog', message: 'Retention may then remove the recording once it is older than its target keeps recordings.', reason: { label: 'Reason ', placeholder: 'e.g. matter 2026-17 closed' } },
          (reason) => postJson(`${base}/release`, { reason }).then(redraw).catch((err: Error) => void (problem.textContent = err.message)),
        )
      : confirmButton(
          { text: 'Place legal hold', what, className: 'place-hold', id: 'place-hold' },
          { dialogId: 'place-hold-dialog', message: 'Retention keeps a held recording, whatever its age, until the hold is released. The hold and its reason are audited.', reason: { label: 'Reason ', placeholder: 'e.g. matter 2026-17' } },
          (reason) => postJson(base, { reason }).then(redraw).catch((err: Error) => void (problem.textContent = err.message)),
        ),
    ' ',
    problem,
  );
}

export async function renderReplay(app: HTMLElement, id: string, me: Me): Promise<void> {
  const base = `/api/sessions/${encodeURIComponent(id)}`;
  const redraw = () => void renderReplay(app, id, me);
  const summary = await getJson<SessionSummary>(base);
  if (summary.recording?.expiredAt) {
    // Nothing to play: say when and why, and where the removal is recorded.
    app.replaceChildren(
      el('h1', { textContent: `Recording: ${summary.target} by ${summary.username}` }),
      el(
        'p',
        { id: 'expired', className: 'notice' },
        `This recording was removed by retention on ${absoluteTime(summary.recording.expiredAt)}. It was sealed as sha256 `,
        el('code', { textContent: summary.recording.sha256 }),
        ` (${bytes(summary.recording.bytes)}); its removal is a signed event in the `,
        link(`/audit?subject=${encodeURIComponent(id)}`, 'audit log'),
        '.',
      ),
    );
    return;
  }
  const [meta, index, timeline] = await Promise.all([
    summary,
    getJson<Index>(`${base}/index`),
    getJson<{ commands: Array<{ t: number; line: string; masked: boolean }> }>(`${base}/commands`),
  ]);
  document.title = `Replay: ${meta.target} by ${meta.username} · Sallyport`;
  const chunkEvents = new Map<number, Ev[]>();
  const keyframes = new Map<number, Promise<Keyframe>>();

  // Links in recordings do nothing when clicked; nothing the recording prints can reach the
  // clipboard, the window title or the network (no onData/onTitleChange handlers are wired).
  const term = new Terminal({
    cols: index.width,
    rows: index.height,
    ...TERMINAL_TEXT,
    disableStdin: true,
    scrollback: 5000,
    linkHandler: { activate: () => undefined, allowNonHttpProtocols: false },
  });
  const screen = el('div', { id: 'player', className: 'player' });
  /** The link to the playhead's moment, shown when copied (and selectable where the clipboard is not allowed). */
  const moment = el('code', { id: 'moment-link' });
  const box = el('div', { className: 'player-box' }, screen);
  const play = el('button', { id: 'play', type: 'button', className: 'primary', textContent: 'Play', ariaKeyShortcuts: 'Space' });
  const speed = document.createElement('select');
  speed.id = 'speed';
  for (const s of [0.5, 1, 2, 4, 8]) speed.add(new Option(`${s}×`, String(s), s === 1, s === 1));
  const skipIdle = input({ id: 'skip-idle', type: 'checkbox', checked: true });
  const scrub = input({ id: 'scrubber', type: 'range', min: '0', step: '0.01', value: '0', max: String(index.duration) });
  scrub.setAttribute('aria-label', 'Position in the recording');
  const clock = el('span', { id: 'clock', className: 'clock' });
  // What happened to the session while it ran, from the audit log (auditors and admins): who
  // watched it, who terminated it, under which approval it opened — as marks along the scrubber.
  const markers = el('div', { id: 'markers', className: 'markers', ariaLabel: 'Events during the session' });
  const skipLabel = document.createElement('label');
  skipLabel.append(skipIdle, ' Skip idle');
  const speedLabel = document.createElement('label');
  speedLabel.append('Speed ', speed);

  const masked = timeline.commands.some((c) => c.masked);
  const commands = el(
    'ol',
    { id: 'timeline', className: 'timeline' },
    ...timeline.commands.map((c) => {
      const item = el(
        'li',
        { className: c.masked ? 'command masked' : 'command' },
        el('button', { type: 'button', className: 'jump', textContent: `${c.t.toFixed(1)} s`, ariaLabel: `Jump to ${c.t.toFixed(1)} s` }),
        ' ',
        el('code', { textContent: c.line, title: c.masked ? 'typed without echo: stored masked' : '' }),
      );
      item.dataset.t = String(c.t);
      item.querySelector('button')!.addEventListener('click', () => seekTo(c.t));
      return item;
    }),
  );

  app.replaceChildren(
    el('h1', { textContent: `Replay: ${meta.target} by ${meta.username}` }),
    el(
      'p',
      { className: 'meta' },
      `${absoluteTime(meta.startedAt)}${meta.durationSeconds === null ? '' : ` · ${duration(meta.durationSeconds)}`} · ${meta.endReason ?? 'live'}${meta.exitCode === null ? '' : ` (${meta.exitCode})`}${meta.recording ? ` · ${bytes(meta.recording.bytes)}` : ''} · image `,
      el('code', { textContent: meta.imageId ?? meta.image }),
      ' · sha256 ',
      el('code', { id: 'recording-sha256', textContent: meta.recording?.sha256 ?? 'unsealed' }),
      ' · ',
      link(`/audit?subject=${encodeURIComponent(id)}`, 'Audit events'),
    ),
    el('div', { className: 'controls' }, play, speedLabel, skipLabel, scrub, clock, link(`${base}/recording`, 'Download .cast', { id: 'download', download: `sallyport-${id}.cast` }),
      link(`${base}/bundle`, 'Evidence bundle', { id: 'bundle', download: `sallyport-evidence-${id}.tar` }),
    ),
    holdControl(id, meta, me, redraw),
    el(
      'p',
      { className: 'controls moment' },
      el('button', { id: 'fullscreen', type: 'button', textContent: 'Full screen', onclick: () => void box.requestFullscreen?.().catch(() => undefined) }),
      ' ',
      el('button', {
        id: 'copy-moment',
        type: 'button',
        textContent: 'Copy link to this moment',
        onclick: () => {
          const url = `${location.origin}/sessions/${encodeURIComponent(id)}?t=${playhead.toFixed(2)}`;
          moment.textContent = url;
          void navigator.clipboard?.writeText(url).then(
            () => void (moment.title = 'copied'),
            () => undefined,
          );
        },
      }),
      ' ',
      moment,
    ),
    markers,
    el('p', { className: 'meta keys', id: 'replay-keys', textContent: 'Keys: Space play/pause · ← → 5 s back/forward · Home/End start/end · < > slower/faster' }),
    el(
      'div',
      // Wider than a side panel leaves room for: the command list goes below.
      { className: index.width > 100 ? 'replay-layout wide' : 'replay-layout' },
      box,
      el(
        'aside',
        { className: 'timeline-panel' },
        el('h2', { textContent: 'Commands' }),
        el('p', { className: 'meta', textContent: 'Reconstructed from recorded input.' }),
        masked ? el('p', { className: 'badge', id: 'masked-note', textContent: 'Some input was typed without echo and is masked (•).' }) : '',
        timeline.commands.length ? commands : el('p', { className: 'empty', textContent: 'No input recorded.' }),
      ),
    ),
  );
  document.body.classList.add('replay-mode');
  if (me.user.roles.some((r) => r === 'auditor' || r === 'admin')) void showMarkers(markers, id, meta, index.duration, (t) => void seekTo(t));
  term.open(screen);
  scaleToFit(term, box);

  const parse = (text: string): Ev[] =>
    text
      .split('\n')
      .filter((l) => l.startsWith('['))
      .map((l) => {
        const [t, code, data] = JSON.parse(l) as [number, string, string];
        return { t, code, data };
      });
  /** Loads chunks [from, to] (positions in index.chunks) that are not loaded yet. */
  const load = async (from: number, to: number) => {
    const missing: number[] = [];
    for (let i = Math.max(0, from); i <= Math.min(to, index.chunks.length - 1); i++) if (!chunkEvents.has(index.chunks[i]![0])) missing.push(index.chunks[i]![0]);
    for (let i = 0; i < missing.length; ) {
      const first = missing[i]!;
      let last = first;
      while (i + 1 < missing.length && missing[i + 1] === last + 1 && last - first + 1 < MAX_CHUNKS_PER_REQUEST) last = missing[++i]!;
      i++;
      const res = await fetch(`${base}/chunks?from=${first}&to=${last}`, { credentials: 'same-origin' });
      if (!res.ok) throw new Error(`recording unavailable (${res.status})`);
      // Chunks arrive concatenated in order; the index gives each one's byte length.
      const bytes = new Uint8Array(await res.arrayBuffer());
      const decoder = new TextDecoder();
      let at = 0;
      for (let seq = first; seq <= last; seq++) {
        const size = index.chunks.find((c) => c[0] === seq)![3];
        chunkEvents.set(seq, parse(decoder.decode(bytes.subarray(at, at + size))));
        at += size;
      }
    }
  };
  const keyframe = (n: number) => {
    if (!keyframes.has(n)) keyframes.set(n, getJson<Keyframe>(`${base}/keyframes/${n}`));
    return keyframes.get(n)!;
  };
  /** Position in index.chunks of the chunk showing time t. */
  const chunkAt = (t: number) => {
    let lo = 0;
    let hi = index.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (index.chunks[mid]![1] <= t) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  const write = (data: string) => new Promise<void>((resolve) => (data ? term.write(data, resolve) : resolve()));
  const resizeTo = (data: string) => {
    const [c, r] = data.split('x').map(Number);
    if (c && r) term.resize(c, r);
  };

  let playhead = 0;
  let pos = { chunk: 0, event: 0 };
  let playing = false;
  let last = 0;
  let generation = 0;
  let current: HTMLElement | undefined;
  const show = () => {
    scrub.value = String(playhead);
    clock.textContent = `${playhead.toFixed(1)} / ${index.duration.toFixed(1)} s`;
    let last: HTMLElement | undefined;
    for (const li of commands.children) {
      const past = Number((li as HTMLElement).dataset.t) <= playhead;
      (li as HTMLElement).classList.toggle('past', past);
      if (past) last = li as HTMLElement;
    }
    // The command list follows playback: the latest command typed stays in view, marked.
    if (last !== current) {
      current?.classList.remove('current');
      current = last;
      current?.classList.add('current');
      current?.scrollIntoView?.({ block: 'nearest' });
    }
  };

  /** Shows time `to`: nearest keyframe, then the events after it up to `to`. */
  const seek = async (to: number) => {
    const started = performance.now();
    const gen = ++generation;
    playhead = Math.max(0, Math.min(to, index.duration));
    const kf = [...index.keyframes].reverse().find((k) => k[1] <= playhead);
    const startChunk = kf ? index.chunks.findIndex((c) => c[0] > kf[2]) : 0;
    const endChunk = chunkAt(playhead);
    const [snapshot] = await Promise.all([kf ? keyframe(kf[0]) : undefined, load(startChunk, endChunk)]);
    if (gen !== generation) return;
    term.reset();
    term.resize(snapshot?.cols ?? index.width, snapshot?.rows ?? index.height);
    if (snapshot) await write(snapshot.screen);
    let batch = '';
    pos = { chunk: Math.max(startChunk, 0), event: 0 };
    for (let ci = Math.max(startChunk, 0); ci <= endChunk && startChunk >= 0; ci++) {
      const events = chunkEvents.get(index.chunks[ci]![0]) ?? [];
      let ei = 0;
      for (; ei < events.length && events[ei]!.t <= playhead; ei++) {
        const e = events[ei]!;
        if (e.code === 'o') batch += e.data;
        else if (e.code === 'r') {
          await write(batch);
          batch = '';
          resizeTo(e.data);
        }
      }
      pos = ei < events.length ? { chunk: ci, event: ei } : { chunk: ci + 1, event: 0 };
    }
    await write(batch);
    if (gen !== generation) return;
    show();
    screen.dataset.lastSeekMs = (performance.now() - started).toFixed(1);
    screen.dataset.seeks = String(Number(screen.dataset.seeks ?? 0) + 1);
  };

  // A chunk the broker cannot give now (it is away, the login ended) is said where the time is.
  const unavailable = (err: Error) => void (clock.textContent = err.message);
  const seekTo = (to: number) => void seek(to).catch(unavailable);

  const nextEvent = (): Ev | undefined => {
    while (pos.chunk < index.chunks.length) {
      const events = chunkEvents.get(index.chunks[pos.chunk]![0]);
      if (!events) return undefined;
      if (pos.event < events.length) return events[pos.event];
      pos = { chunk: pos.chunk + 1, event: 0 };
    }
    return undefined;
  };
  const tick = (now: number) => {
    if (!playing) return;
    playhead += ((now - last) / 1000) * Number(speed.value);
    last = now;
    void load(pos.chunk, pos.chunk + PREFETCH_CHUNKS);
    let e = nextEvent();
    if (e && skipIdle.checked && e.t - playhead > IDLE_CAP_SECONDS) playhead = e.t - IDLE_CAP_SECONDS;
    let out = '';
    while (e && e.t <= playhead) {
      if (e.code === 'o') out += e.data;
      else if (e.code === 'r') {
        term.write(out);
        out = '';
        resizeTo(e.data);
      }
      pos.event++;
      e = nextEvent();
    }
    term.write(out);
    if (playhead >= index.duration) {
      playing = false;
      play.textContent = 'Play';
      playhead = index.duration;
    }
    show();
    if (playing) requestAnimationFrame(tick);
  };
  const toggle = () => {
    if (playing) {
      playing = false;
      play.textContent = 'Play';
      return;
    }
    const begin = playhead >= index.duration ? seek(0) : Promise.resolve();
    begin.then(() => {
      playing = true;
      play.textContent = 'Pause';
      last = performance.now();
      requestAnimationFrame(tick);
    }, unavailable);
  };
  play.addEventListener('click', toggle);
  // Keyboard shortcuts, as video players have them; a focused field or button keeps its own keys.
  const step = (by: number) => {
    speed.selectedIndex = Math.max(0, Math.min(speed.options.length - 1, speed.selectedIndex + by));
  };
  const keys: Record<string, () => void> = {
    ' ': toggle,
    k: toggle,
    ArrowLeft: () => seekTo(playhead - 5),
    ArrowRight: () => seekTo(playhead + 5),
    Home: () => seekTo(0),
    End: () => seekTo(index.duration),
    '<': () => step(-1),
    '>': () => step(1),
  };
  const onKey = (ev: KeyboardEvent) => {
    if (!screen.isConnected) return document.removeEventListener('keydown', onKey);
    const focused = ev.target as HTMLElement;
    if (ev.ctrlKey || ev.metaKey || ev.altKey || focused.closest('input, select, textarea, dialog')) return;
    if (ev.key === ' ' && focused.closest('button, a')) return;
    const f = keys[ev.key];
    if (!f) return;
    ev.preventDefault();
    f();
  };
  document.addEventListener('keydown', onKey);
  scrub.addEventListener('input', () => seekTo(Number(scrub.value)));
  const startAt = Number(new URLSearchParams(location.search).get('t') ?? 0);
  await seek(Number.isFinite(startAt) ? startAt : 0);
}

const MARKED: Record<string, (e: { actor: string; details: Record<string, unknown> }) => string> = {
  'console.watched': (e) => `watched by ${String(e.details.watcher ?? e.actor)}`,
  'console.terminated': (e) => `terminated by ${String(e.details.by ?? e.actor)}: ${String(e.details.reason ?? '')}`,
  'console.handed_over': (e) => `carried on by broker ${String(e.details.to)} (was ${String(e.details.from)})`,
  'console.reattached': (e) => (e.details.takeover ? 'moved to another window' : `page reattached after ${String(e.details.detachedSeconds)} s`),
  'access.extended': () => 'access extended',
  'recording.held': (e) => `legal hold by ${String(e.details.by ?? e.actor)}`,
};

/** Marks along the scrubber for the session's audit events that happened while it ran; a click seeks there. */
async function showMarkers(box: HTMLElement, id: string, meta: SessionSummary, duration: number, seek: (t: number) => void): Promise<void> {
  const { events } = await getJson<{ events: Array<{ at: string; actor: string; action: string; details: Record<string, unknown> }> }>(`/api/audit?subject=${encodeURIComponent(id)}`).catch(() => ({ events: [] }));
  const start = Date.parse(meta.startedAt);
  const marks = [
    ...(meta.approved ? [{ t: 0, action: 'access.approved', label: 'opened under an approved access grant' }] : []),
    ...events
      .filter((e) => MARKED[e.action])
      .map((e) => ({ t: Math.max(0, Math.min(duration, (Date.parse(e.at) - start) / 1000)), action: e.action, label: MARKED[e.action]!(e) })),
  ];
  box.replaceChildren(
    ...marks.map((m) => {
      const b = el('button', { type: 'button', className: 'marker', title: `${m.t.toFixed(1)} s: ${m.label}`, ariaLabel: `${m.label} at ${m.t.toFixed(1)} s`, onclick: () => seek(m.t) });
      b.style.left = `${duration > 0 ? (m.t / duration) * 100 : 0}%`;
      b.dataset.action = m.action;
      return b;
    }),
  );
}
