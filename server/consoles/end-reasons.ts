// Why a console ended, as a typed list (one code space, like Boundary's termination reasons),
// and the `console.ended` event that says so.
// Each reason has the sentence the user and the audit log read, and the exit status a front
// door without its own (the SSH door) reports. The session row stores both the code and the
// sentence; nothing parses the sentence.

import type { AuditEntry } from '../audit/index.js';
import type { RecordingSeal } from '../recording/index.js';

export type EndReason =
  | { code: 'process_exited' }
  | { code: 'client_disconnected' }
  | { code: 'client_gone'; seconds: number }
  | { code: 'user_ended' }
  | { code: 'network_error' }
  | { code: 'idle_timeout' }
  | { code: 'max_duration' }
  | { code: 'recording_failed' }
  | { code: 'broker_shutdown' }
  | { code: 'grant_ended'; status: string }
  | { code: 'access_removed' }
  | { code: 'login_ended'; why: string }
  | { code: 'terminated'; by: string; reason: string }
  | { code: 'broker_lost'; broker: string }
  | { code: 'broker_stopped'; broker: string }
  | { code: 'taken_over' }
  | { code: 'node_lost'; node: string }
  | { code: 'failed_to_start'; error: string };

export type EndCode = EndReason['code'];

type Of<C extends EndCode> = Extract<EndReason, { code: C }>;

/** A forgotten reason is a compile error: every code says what the user reads, which status, and whose end it was. */
const REASONS: { [C in EndCode]: { message(r: Of<C>): string; exitStatus: number; by: string } } = {
  process_exited: { message: () => 'process exited', exitStatus: 0, by: 'process' },
  client_disconnected: { message: () => 'client disconnected', exitStatus: 255, by: 'user' },
  client_gone: { message: (r) => `client gone: its page did not reattach within ${r.seconds} s`, exitStatus: 255, by: 'user' },
  user_ended: { message: () => 'ended by the user', exitStatus: 0, by: 'user' },
  network_error: { message: () => 'network error', exitStatus: 255, by: 'network' },
  idle_timeout: { message: () => 'idle timeout', exitStatus: 124, by: 'policy' },
  max_duration: { message: () => 'maximum duration reached', exitStatus: 124, by: 'policy' },
  recording_failed: { message: () => 'recording failed', exitStatus: 254, by: 'broker' },
  broker_shutdown: { message: () => 'broker shutting down', exitStatus: 253, by: 'broker' },
  grant_ended: { message: (r) => `grant ${r.status}`, exitStatus: 252, by: 'grant' },
  access_removed: { message: () => 'access removed from the catalogue', exitStatus: 252, by: 'catalogue' },
  login_ended: { message: (r) => (r.why === 'logout' ? 'logged out' : r.why === 'expired' ? 'login expired' : `login ended: ${r.why}`), exitStatus: 252, by: 'login' },
  terminated: { message: (r) => `terminated by ${r.by}${r.reason ? `: ${r.reason}` : ''}`, exitStatus: 251, by: 'admin' },
  broker_lost: { message: (r) => `broker ${r.broker} stopped answering`, exitStatus: 253, by: 'broker' },
  broker_stopped: { message: (r) => `broker ${r.broker} stopped`, exitStatus: 253, by: 'broker' },
  taken_over: { message: () => 'this broker was taken over by another', exitStatus: 253, by: 'broker' },
  node_lost: { message: (r) => `fleet node ${r.node} stopped answering`, exitStatus: 255, by: 'node' },
  failed_to_start: { message: (r) => `failed to start: ${r.error}`, exitStatus: 250, by: 'broker' },
};

/**
 * Who or what ended it, for the Sessions page's "Ended by", from what the session row keeps:
 * the admin's name for a terminate (its terminate request), otherwise the reason's party.
 */
export function endedBy(code: string | null, terminatedBy: string | null): string | null {
  if (code === null) return null;
  if (code === 'terminated') return terminatedBy ?? 'admin';
  return (REASONS as Record<string, { by: string } | undefined>)[code]?.by ?? null;
}

/** Every end code, at run time (metrics start each at zero). */
export const END_CODES = Object.keys(REASONS) as EndCode[];

/** The sentence the user, the Sessions page and the audit log read. */
export function endMessage(r: EndReason): string {
  return (REASONS[r.code].message as (r: EndReason) => string)(r);
}

/**
 * The exit status to report: the process's own when it exited, otherwise the reason's
 * (124 for timeouts, as timeout(1); 250–255 for the broker's reasons).
 */
export function endExitStatus(r: EndReason, processExit: number | null): number {
  return r.code === 'process_exited' && processExit !== null ? processExit : REASONS[r.code].exitStatus;
}

/**
 * More characters typed without echo than this is more than passwords: a user may have switched
 * echo off (`stty -echo`) to type commands the recording shows only as "input not echoed".
 */
export const QUIET_INPUT_CHARS = 100;
export const isQuietInput = (maskedChars: number | null | undefined) => (maskedChars ?? 0) > QUIET_INPUT_CHARS;

/**
 * The `console.ended` event: why, what the process and the user exchanged (null when the broker
 * that counted died with the counts), and the recording's seal.
 */
export function consoleEndedEvent(
  actor: string,
  sessionId: string,
  target: string,
  reason: EndReason,
  counts: { exitCode: number | null; bytesOut: number; bytesIn: number; maskedInput?: number } | null,
  recording: RecordingSeal | null,
): AuditEntry<'console.ended'> {
  return {
    actor,
    action: 'console.ended',
    subject: sessionId,
    details: {
      target,
      reason: endMessage(reason),
      code: reason.code,
      exitCode: counts?.exitCode ?? null,
      bytesOut: counts?.bytesOut ?? null,
      bytesIn: counts?.bytesIn ?? null,
      recordingSha256: recording?.sha256 ?? null,
      recordingBytes: recording?.size ?? null,
      recordingChainHash: recording?.chainHash ?? null,
      recordingDurationSeconds: recording?.durationSeconds ?? null,
      ...(counts?.maskedInput !== undefined ? { maskedInputChars: counts.maskedInput, quietInput: isQuietInput(counts.maskedInput) } : {}),
    },
  };
}
