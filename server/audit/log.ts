// Audit: typed events with stable action codes, appended in the caller's transaction when
// there is one, each hash-chained to the one before (chain.ts) under the chain head's lock.
// Audit events are data for auditors; logs are for diagnosis and never carry secrets.
import {
  afterCommit,
  insertChainedAuditEvent,
  listAuditEvents,
  listAuditTrail,
  lockAuditHead,
  type AuditEventRow,
  type AuditTrailRow,
  type Database,
  type Queryable,
} from '../db/index.js';
import { CHAIN_VERSION, hashEvent } from './chain.js';
import { exportAuditTrail, type AuditExport, type AuditExportFormat } from './export.js';

/** Stable action codes; details are per action and must never hold secrets or terminal bytes. */
export interface AuditEvents {
  'auth.login': { username: string; groups: string[]; roles: string[]; stepUp: boolean; authTime: string | null; clientAddress?: string };
  'auth.login_failed': { reason: string; stage: 'callback' | 'token' | 'session' };
  'auth.logout': { username: string };
  'catalog.loaded': { path: string; sha256: string; targets: number };
  'catalog.rejected': { path: string; sha256: string | null; problems: number };
  'broker.started': { version: string; mode: string; leaseSeconds: number };
  'broker.stopped': { version: string };
  'broker.lost': { takenOverBy: string; lastHeartbeat: string };
  /** `username` (the requester) since 0.2.0: an evidence bundle's approval is read from these events. */
  'access.requested': { username?: string; clientAddress?: string; target: string; image: string; command: string[]; nodes?: string[]; reason: string; durationSeconds: number; approvalsNeeded: number; extends?: string };
  /** An extension approved: the consoles of the grant it extends now run under it. */
  'access.extended': { target: string; extends: string; expiresAt: string; sessions: string[] };
  'access.decision': { username?: string; clientAddress?: string; decision: 'approve' | 'deny'; comment: string; counted: number; needed: number };
  'access.approved': { target: string; expiresAt: string; auto: boolean };
  'access.denied': { target: string; comment: string };
  'access.withdrawn': { target: string };
  'access.revoked': { target: string; reason: string; clientAddress?: string };
  'access.handed_back': { target: string };
  'access.expired': { target: string; reason: string };
  'access.grant_used': { target: string; sessionId: string };
  'console.opened': {
    username: string;
    target: string;
    image: string;
    imageId: string;
    runtime: string;
    node: string;
    containerId: string;
    /** The one-minute SSH certificate a fleet console's connection logged in with. */
    certificate?: { serial: string; keyId: string; validBefore: string; sourceAddress?: string };
    via: 'web' | 'ssh';
    clientAddress: string | null;
    /** The SSH client's version string (SSH door only). */
    clientVersion?: string;
    grantId: string | null;
  };
  /** A fleet node refused: its host key is not the pinned one, or it could not be reached. */
  'node.refused': { node: string; code: string; message: string };
  /** The SSH front door showed a connection a login link (the code itself is not logged). */
  'ssh.login.issued': { target: string; clientAddress: string; clientVersion: string; expiresAt: string };
  /** `sallyport admin login` was shown a link (the code and secrets are not logged). */
  'cli.login.issued': { clientAddress: string; clientName: string; expiresAt: string; scope?: 'full' | 'admin' };
  'cli.login.confirmed': { username: string; clientAddress: string; clientName: string };
  /** The polling CLI got its login: a session of its own, ending when the confirming login would. */
  'cli.login.taken': { username: string; expiresAt: string };
  /** A command-line login ended by its owner or an admin. */
  'cli.login.revoked': { by: string; username: string; clientName: string };
  'ssh.login.confirmed': { username: string; target: string; clientAddress: string; clientVersion: string };
  /** A browser confirmed a connection that proved this key: it logs the user in again until that login ends. */
  'ssh.key.remembered': { username: string; fingerprint: string; expiresAt: string; clientAddress: string };
  /** A connection logged in with a remembered key, no browser step. */
  'ssh.key.login': { username: string; fingerprint: string; target: string; clientAddress: string; clientVersion: string };
  'ssh.key.revoked': { by: string; username: string; fingerprint: string };
  /** The connection stopped waiting for its link: it expired, the client went away, the confirming login ended, the broker stopped. */
  'ssh.login.abandoned': { target: string; clientAddress: string; clientVersion: string; why: 'expired' | 'disconnected' | 'login_ended' | 'stopping' };
  /** The SSH front door refused a request (forwarding, agent, X11, exec, subsystem, env, weak algorithm). */
  'ssh.refused': { request: string; detail: string; username: string | null; clientAddress: string; clientVersion: string };
  'console.watched': { watcher: string; username: string; target: string };
  'console.terminated': { by: string; username: string; target: string; reason: string; clientAddress?: string };
  /**
   * The console's page carried on with it after its socket dropped (`detachedSeconds` without
   * one), or moved it from another window of the same login (`takeover`).
   */
  'console.reattached': { username: string; target: string; detachedSeconds: number; takeover: boolean; clientAddress?: string };
  /**
   * A broker carries on with a console another left while draining: same container, same
   * recording; `gapSeconds` between letting go and attaching (the process was frozen meanwhile).
   */
  'console.handed_over': { from: string; to: string; gapSeconds: number; username: string; target: string };
  /** Someone asked to carry on with a console and was refused: whose it is and why. */
  'console.reattach_refused': { by: string; username: string; target: string; why: 'another_user' | 'another_login' | 'wrong_key'; clientAddress?: string };
  'evidence.downloaded': { by: string; username: string; target: string };
  /** An auditor downloaded the audit trail (its filter, as given): the export ends at this event. */
  /**
   * The database was restored from a backup (`sallyport restored`): it holds events through
   * `throughSeq` and checkpoints through `lastCheckpoint`; what was signed after them is the gap.
   */
  'audit.restored': { reason: string; throughSeq: string; lastCheckpoint: { n: string; seq: string } | null; previousDeployment: string; deployment: string };
  /** The broker refused to sign a checkpoint: the table or the chain disagrees with what it signed or saw. */
  'audit.checkpoint_refused': { reason: string };
  'audit.exported': { by: string; format: 'jsonl' | 'csv'; action: string | null; subject: string | null };
  'console.failed': { target: string; image: string; code: string; recordingSha256: string | null; grantId: string | null; grantUseReturned: boolean };
  /** An ended session's recording sealed after its end (storage refused it then): from storage, marked truncated. */
  'recording.sealed_late': { sha256: string; chainHash: string; bytes: number; durationSeconds: number; why: string };
  /**
   * Retention removed a recording's bytes and index: the hash and size it was sealed with, when
   * its console ended and the retention that applied. `verify recording` reads this event.
   */
  'recording.expired': { target: string; sha256: string; bytes: number; endedAt: string; retentionSeconds: number };
  /** A sealed recording moved to object storage: the object is the .cast file, checked against the sealed hash. */
  'recording.stored': { store: 's3'; bucket: string; key: string; sha256: string; bytes: number };
  /**
   * A live console's recording was held on its broker while the database was unavailable, then
   * stored in order: how long, how many bytes and chunks (the recording has a marker there too).
   */
  'recording.buffered': { seconds: number; bytes: number; chunks: number; target: string; broker: string };
  /** An auditor placed a legal hold: retention keeps the recording until it is released. */
  'recording.held': { by: string; username: string; target: string; reason: string; clientAddress?: string };
  'recording.hold_released': { by: string; username: string; target: string; reason: string; heldSince: string; clientAddress?: string };
  'console.ended': {
    target: string | null;
    reason: string;
    /** The typed end reason (consoles/end-reasons.ts). */
    code: string;
    exitCode: number | null;
    bytesOut: number | null;
    bytesIn: number | null;
    recordingSha256: string | null;
    recordingBytes: number | null;
    recordingChainHash: string | null;
    recordingDurationSeconds: number | null;
    /** Characters typed that the terminal did not echo (stored masked), and whether that is more than passwords. */
    maskedInputChars?: number;
    quietInput?: boolean;
  };
}
export type AuditAction = keyof AuditEvents;

/** Every action, at run time (metrics start each at zero); a new action missing here is a compile error. */
const ACTION_SET: Record<AuditAction, true> = {
  'auth.login': true,
  'auth.login_failed': true,
  'auth.logout': true,
  'catalog.loaded': true,
  'catalog.rejected': true,
  'broker.started': true,
  'broker.stopped': true,
  'broker.lost': true,
  'access.requested': true,
  'access.decision': true,
  'access.approved': true,
  'access.extended': true,
  'access.denied': true,
  'access.withdrawn': true,
  'access.revoked': true,
  'access.handed_back': true,
  'access.expired': true,
  'access.grant_used': true,
  'console.opened': true,
  'node.refused': true,
  'ssh.login.issued': true,
  'cli.login.issued': true,
  'cli.login.confirmed': true,
  'cli.login.taken': true,
  'cli.login.revoked': true,
  'ssh.login.confirmed': true,
  'ssh.key.remembered': true,
  'ssh.key.login': true,
  'ssh.key.revoked': true,
  'ssh.login.abandoned': true,
  'ssh.refused': true,
  'console.watched': true,
  'console.terminated': true,
  'console.reattached': true,
  'console.reattach_refused': true,
  'console.handed_over': true,
  'evidence.downloaded': true,
  'audit.restored': true,
  'audit.checkpoint_refused': true,
  'audit.exported': true,
  'console.failed': true,
  'recording.sealed_late': true,
  'recording.expired': true,
  'recording.stored': true,
  'recording.held': true,
  'recording.buffered': true,
  'recording.hold_released': true,
  'console.ended': true,
};
export const AUDIT_ACTIONS = Object.keys(ACTION_SET) as AuditAction[];

export interface AuditEntry<A extends AuditAction = AuditAction> {
  /** Who did it: `user:<issuer-subject id>` for people, `system` for the broker. */
  actor: string;
  action: A;
  subject?: string | null;
  details: AuditEvents[A];
}

export interface AuditLog {
  append<A extends AuditAction>(entry: AuditEntry<A>, tx?: Queryable): Promise<AuditEventRow>;
  list(filter: { action?: AuditAction; afterSeq?: string; limit?: number }): Promise<AuditEventRow[]>;
  /** For the Audit page: newest first, actors named; filter by action prefix and subject (or grant). */
  trail(filter: { actionPrefix?: string; subject?: string; beforeSeq?: string; afterSeq?: string; limit?: number }): Promise<AuditTrailRow[]>;
  /** The trail's filter as a download, oldest first, audited (export.ts); the caller has authorized the reader. */
  exportTrail(by: { userId: string; username: string }, filter: { actionPrefix?: string; subject?: string }, format: AuditExportFormat): Promise<AuditExport>;
}

/**
 * `onAppended` hears how long each append took (the head's lock wait included), for /metrics;
 * `onCommitted` hears each event once it is committed (never one rolled back): the security log.
 */
export function createAuditLog(db: Database, options: { onAppended?: (seconds: number) => void; onCommitted?: (row: AuditEventRow) => void } = {}): AuditLog {
  const log: AuditLog = {
    async append(entry, tx) {
      const t0 = performance.now();
      const write = async (q: Queryable) => {
        const head = await lockAuditHead(q);
        // jsonb keeps what JSON keeps: hash exactly what will be read back.
        const details = JSON.parse(JSON.stringify(entry.details)) as Record<string, unknown>;
        const fields = {
          v: CHAIN_VERSION,
          seq: String(BigInt(head.seq) + 1n),
          // The database's clock under the head's lock (millisecond precision, so it reads back the
          // same): event times follow the chain's order whatever each broker's clock says.
          at: head.now,
          actor: entry.actor,
          action: entry.action,
          subject: entry.subject ?? null,
          details,
          prevHash: head.hash,
        };
        const row = await insertChainedAuditEvent(q, { ...fields, hash: hashEvent(fields) });
        const committed = options.onCommitted;
        if (committed) afterCommit(q, () => committed(row));
        return row;
      };
      const row = await (tx ? write(tx) : db.transaction(write));
      options.onAppended?.((performance.now() - t0) / 1000);
      return row;
    },
    list(filter) {
      return listAuditEvents(db, { ...filter, limit: Math.min(filter.limit ?? 100, 1000) });
    },
    trail(filter) {
      return listAuditTrail(db, { ...filter, limit: Math.min(filter.limit ?? 100, 500) });
    },
    exportTrail(by, filter, format) {
      return exportAuditTrail(db, (details, actor) => log.append({ actor, action: 'audit.exported', details }), by, filter, format);
    },
  };
  return log;
}

