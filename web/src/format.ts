// How times, durations and sizes read everywhere in the app: times with their time zone and a
// relative hint ("in 44 minutes"), sizes in binary units, durations in the largest units.
import { el } from './dom.js';

const ABSOLUTE = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  timeZoneName: 'short',
});
const RELATIVE = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

/** "3 Dec 2026, 17:05:12 GMT+1", in the browser's own time zone. */
export function absoluteTime(iso: string): string {
  return ABSOLUTE.format(new Date(iso));
}

/** "in 44 minutes", "3 hours ago", "now". */
export function relativeTime(iso: string, now = Date.now()): string {
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 10) return 'now';
  const [value, unit]: [number, Intl.RelativeTimeFormatUnit] =
    abs < 60 ? [seconds, 'second'] : abs < 3600 ? [Math.round(seconds / 60), 'minute'] : abs < 86400 ? [Math.round(seconds / 3600), 'hour'] : [Math.round(seconds / 86400), 'day'];
  return RELATIVE.format(value, unit);
}

/** A <time> showing the absolute time with its zone, and the relative hint after it. */
export function timeEl(iso: string | null): HTMLElement | string {
  if (!iso) return '';
  const t = el('time', { dateTime: iso, textContent: absoluteTime(iso), title: new Date(iso).toISOString() });
  return el('span', { className: 'when' }, t, ' ', el('span', { className: 'relative', textContent: `(${relativeTime(iso)})` }));
}

/** The plain-text form, for sentences: "3 Dec 2026, 17:05:12 GMT+1 (in 44 minutes)". */
export function when(iso: string | null): string {
  return iso ? `${absoluteTime(iso)} (${relativeTime(iso)})` : '';
}

/** 0 B, 812 B, 1.2 KiB, 34 MiB, 1.0 GiB. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** 45 s, 4 min 5 s, 2 h 10 min, 30 min. */
export function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return s % 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s / 60} min`;
  const m = Math.round(s / 60);
  return m % 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m / 60} h`;
}

/** "1 session", "3 sessions": a count with its noun. */
export function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
