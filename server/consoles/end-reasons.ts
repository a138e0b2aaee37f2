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

/** A forgotten reason is a compile error: every code says what the user reads and which status. */
const REASONS: { [C in EndCode]: { message(r: Of<C>): string; exitStatus: number } } = {
  process_exited: { message: () => 'process exited', exitStatus: 0 },
  client_disconnected: { message: () => 'client disconnected', exitStatus: 255 },
  network_error: { message: () => 'network error', exitStatus: 255 },
  idle_timeout: { message: () => 'idle timeout', exitStatus: 124 },
  max_duration: { message: () => 'maximum duration reached', exitStatus: 124 },
  recording_failed: { message: () => 'recording failed', exitStatus: 254 },
  broker_shutdown: { message: () => 'broker shutting down', exitStatus: 253 },
  grant_ended: { message: (r) => `grant ${r.status}`, exitStatus: 252 },
  access_removed: { message: () => 'access removed from the catalogue', exitStatus: 252 },
  login_ended: { message: (r) => (r.why === 'logout' ? 'logged out' : r.why === 'expired' ? 'login expired' : `login ended: ${r.why}`), exitStatus: 252 },
  terminated: { message: (r) => `terminated by ${r.by}${r.reason ? `: ${r.reason}` : ''}`, exitStatus: 251 },
  broker_lost: { message: (r) => `broker ${r.broker} stopped answering`, exitStatus: 253 },
  broker_stopped: { message: (r) => `broker ${r.broker} stopped`, exitStatus: 253 },
  taken_over: { message: () => 'this broker was taken over by another', exitStatus: 253 },
  node_lost: { message: (r) => `fleet node ${r.node} stopped answering`, exitStatus: 255 },
  failed_to_start: { message: (r) => `failed to start: ${r.error}`, exitStatus: 250 },
};

/**
 * Who or what ended it, for the Sessions page's "Ended by": the admin's name for a terminate,
 * otherwise the party the reason belongs to.
 */
export function endedBy(r: EndReason): string {
  switch (r.code) {
    case 'terminated':
      return r.by;
    case 'process_exited':
      return 'process';
    case 'client_disconnected':
      return 'user';
    case 'login_ended':
      return r.why === 'logout' ? 'user' : 'login';
    case 'idle_timeout':
    case 'max_duration':
      return 'policy';
    case 'grant_ended':
      return 'grant';
    case 'access_removed':
      return 'catalogue';
    case 'network_error':
      return 'network';
    case 'node_lost':
      return 'node';
    default:
      return 'broker';
  }
}

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
 * The `console.ended` event: why, what the process and the user exchanged (null when the broker
 * that counted died with the counts), and the recording's seal.
 */
export function consoleEndedEvent(
  actor: string,
  sessionId: string,
  target: string,
  reason: EndReason,
  counts: { exitCode: number | null; bytesOut: number; bytesIn: number } | null,
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
    },
  };
}
