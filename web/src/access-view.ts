// Pieces shared by the access pages: how a request's state, duration and exact console look.
import type { AccessRequest } from './api.js';
import { confirmButton } from './confirm.js';
import { el } from './dom.js';
import { duration, timeEl } from './format.js';

export function statusBadge(r: AccessRequest): HTMLElement {
  return el('span', { className: `badge status-${r.status}`, textContent: r.status });
}

/** The exact console an approval covers: target, image (digest) and command. */
export function exactConsole(r: Pick<AccessRequest, 'target' | 'image' | 'command'>): HTMLElement {
  return el(
    'dl',
    { className: 'exact-console' },
    el('dt', { textContent: 'Target' }),
    el('dd', { className: 'target-name', textContent: r.target }),
    el('dt', { textContent: 'Image' }),
    el('dd', {}, el('code', { className: 'image', textContent: r.image })),
    el('dt', { textContent: 'Command' }),
    el('dd', {}, el('code', { className: 'command', textContent: r.command.join(' ') })),
  );
}

export function requestRow(r: AccessRequest, extra: (Node | string)[] = []): HTMLTableRowElement {
  const row = el(
    'tr',
    { className: 'access-request' },
    el('td', {}, el('a', { href: `/access/${r.id}`, textContent: r.target, className: 'request-link' })),
    el('td', { textContent: r.requester }),
    el('td', {}, r.reason, r.extends ? el('span', { className: 'badge extension', title: `asks more time for request ${r.extends}`, textContent: 'more time' }) : ''),
    el('td', { textContent: duration(r.durationSeconds) }),
    el('td', {}, statusBadge(r)),
    el('td', {}, r.expiresAt && r.status === 'approved' ? timeEl(r.expiresAt) : ''),
    el('td', {}, ...extra),
  );
  row.dataset.requestId = r.id;
  row.dataset.key = r.id;
  return row;
}

export function requestTable(id: string, rows: HTMLTableRowElement[], empty: string): HTMLElement {
  if (rows.length === 0) return el('p', { className: 'empty', id, textContent: empty });
  const head = el('tr', {}, ...['Target', 'Requester', 'Reason', 'Duration', 'State', 'Expires', ''].map((h) => el('th', { textContent: h })));
  return el('div', { className: 'table-wrap' }, el('table', { className: 'requests', id }, el('thead', {}, head), el('tbody', {}, ...rows)));
}

/** Revoke, asked in a dialog with the reason the requester reads (Approvals and a request's page). */
export function revokeButton(r: AccessRequest, revoke: (reason: string) => Promise<void>): HTMLButtonElement {
  return confirmButton(
    { text: 'Revoke', what: `${r.requester}'s access to ${r.target}`, className: 'revoke danger', id: `revoke-${r.id}` },
    { dialogId: 'revoke-dialog', message: 'The grant ends now and a console opened with it ends too.', reason: { label: 'Reason ', placeholder: 'shown to the requester' } },
    revoke,
  );
}
