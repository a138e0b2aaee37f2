// Asking for approval from the terminal: a target that needs an approval the user has not got
// asks, right in the SSH session, for a reason (and the ticket the target wants), says who can
// approve, and waits; approved, the console starts; denied, withdrawn or timed out, the
// connection closes with the decision. Every rule (who may ask, what a reason must hold, who
// decides) is the access layer's: this file only reads lines and relays what it answers.
import type ssh2 from 'ssh2';
import type { AccessRequestDetail, AccessRequests } from '../access/index.js';
import type { Target } from '../catalog/index.js';
import { isSallyportError } from '../errors.js';
import type { Principal } from '../identity/index.js';

/** A reason is one line, at most this long (the access layer's own limit). */
const MAX_LINE = 2000;
/** How often the request is looked at while waiting. */
const POLL_MS = 1000;
const REASON_ATTEMPTS = 3;

export type ApprovalOutcome = { approved: true } | { approved: false; message: string };

export interface ApprovalDeps {
  access: AccessRequests;
  publicUrl: string;
  /** How long to wait for a decision before withdrawing the request. */
  waitSeconds: number;
}

export async function approveFromTerminal(channel: ssh2.ServerChannel, principal: Principal, target: Target, deps: ApprovalDeps): Promise<ApprovalOutcome> {
  const say = (text: string) => void channel.write(`${text.replace(/\r?\n/g, '\r\n')}\r\n`);
  const { access } = deps;
  // A request already waiting for this target is waited for, not asked again.
  const mine = await access.list(principal, 'mine');
  let request: AccessRequestDetail | undefined;
  const waiting = mine.find((r) => r.target === target.name && r.status === 'pending');
  if (waiting) {
    request = await access.get(principal, waiting.id);
    say(`${target.name} needs an approval; your request from ${waiting.createdAt.toISOString()} is still waiting.`);
  } else {
    say(`${target.name} needs an approval you have not got.`);
    if (target.approval.ticketPattern) say(`The reason must name a ticket matching ${target.approval.ticketPattern}.`);
    const defaultMinutes = Math.max(1, Math.min(60, Math.floor(target.approval.maxDuration / 60)));
    for (let attempt = 1; !request; attempt++) {
      const reason = await readLine(channel, 'Reason (Enter to send, Ctrl-C to cancel): ');
      if (reason === null || reason.trim() === '') return { approved: false, message: 'No request made.' };
      const minutesText = await readLine(channel, `For how many minutes (at most ${Math.floor(target.approval.maxDuration / 60)}) [${defaultMinutes}]: `);
      if (minutesText === null) return { approved: false, message: 'No request made.' };
      const minutes = minutesText.trim() === '' ? defaultMinutes : Number(minutesText.trim());
      try {
        const row = await access.request(principal, target.name, { reason, durationSeconds: Number.isFinite(minutes) ? Math.round(minutes * 60) : NaN });
        request = await access.get(principal, row.id);
      } catch (err) {
        if (!isSallyportError(err)) throw err;
        say(err.describe());
        if (attempt >= REASON_ATTEMPTS) return { approved: false, message: 'No request made.' };
      }
    }
  }
  const who = request.approvers.users.length ? request.approvers.users.join(', ') : 'nobody has logged in yet';
  say(`Who can approve: ${who} (groups: ${request.approvers.groups.join(', ')}); ${request.approvalsNeeded} approval(s) needed.`);
  say(`The request: ${deps.publicUrl}/access/${request.id}`);
  say('Waiting for a decision. Ctrl-C withdraws the request.');
  return waitForDecision(channel, principal, request.id, deps);
}

async function waitForDecision(channel: ssh2.ServerChannel, principal: Principal, id: string, deps: ApprovalDeps): Promise<ApprovalOutcome> {
  const { access } = deps;
  const deadline = Date.now() + deps.waitSeconds * 1000;
  let cancelled = false;
  let gone = false;
  const onData = (d: Buffer) => {
    if (d.includes(3) || d.includes(4)) cancelled = true;
  };
  const onClose = () => (gone = true);
  channel.on('data', onData);
  channel.on('close', onClose);
  try {
    for (;;) {
      const r = await access.get(principal, id).catch(() => undefined);
      if (r?.status === 'approved') return { approved: true };
      if (r && r.status !== 'pending') {
        const last = r.decisions.at(-1);
        const by = last ? ` by ${last.approver}${last.comment ? `: “${last.comment}”` : ''}` : '';
        return { approved: false, message: `The request was ${r.status}${by}.` };
      }
      if (gone) return { approved: false, message: '' };
      if (cancelled || Date.now() > deadline) {
        await access.withdraw(principal, id).catch(() => undefined);
        return { approved: false, message: cancelled ? 'Request withdrawn.' : `No decision within ${Math.round(deps.waitSeconds / 60)} minutes: request withdrawn.` };
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } finally {
    channel.off('data', onData);
    channel.off('close', onClose);
  }
}

/**
 * Reads one line as a terminal does (echo, backspace, Enter); null on Ctrl-C, Ctrl-D or a closed
 * channel. Longer than MAX_LINE characters, the rest is ignored.
 */
function readLine(channel: ssh2.ServerChannel, prompt: string): Promise<string | null> {
  return new Promise((resolve) => {
    let line = '';
    // Inside an escape sequence (an arrow key): skipped up to its final letter.
    let escape = false;
    channel.write(prompt);
    const finish = (value: string | null) => {
      channel.off('data', onData);
      channel.off('close', onClose);
      channel.write('\r\n');
      resolve(value);
    };
    const onClose = () => finish(null);
    const onData = (d: Buffer) => {
      for (const ch of d.toString('utf8')) {
        if (escape) {
          if (/[A-Za-z~]/.test(ch)) escape = false;
          continue;
        }
        if (ch === '\x1b') {
          escape = true;
          continue;
        }
        if (ch === '\r' || ch === '\n') return finish(line);
        if (ch === '\x03' || ch === '\x04') return finish(null);
        if (ch === '\x7f' || ch === '\b') {
          if (line.length > 0) {
            line = [...line].slice(0, -1).join('');
            channel.write('\b \b');
          }
        } else if (ch >= ' ' && line.length < MAX_LINE) {
          line += ch;
          channel.write(ch);
        }
      }
    };
    channel.on('data', onData);
    channel.on('close', onClose);
  });
}
