// Signed checkpoints: the broker signs "the audit chain head is (seq, hash)" with its Ed25519
// key — on a timer while events arrive, and after a recording is sealed and its session's end
// committed (then the recording's hashes, size and duration are part of the signed payload).
// A checkpoint fixes everything up to its event: rewriting history before it no longer matches
// a signature nobody can forge without the key.
//
// The broker never signs what it cannot vouch for. It remembers the last checkpoint it signed or
// saw (in memory and, when configured, in a file beside its key, outside the database) and
// refuses to sign when the table's newest checkpoint is missing, older or different; each new
// checkpoint names the previous one's digest; and the events since the previous checkpoint are
// verified before the head is signed. A DBA who rewrites the chain and deletes the checkpoints
// gets a refusal, an alert and an audit event — not a fresh signature over the forgery.
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import {
  afterCommit,
  claimRecordingsToCheckpoint,
  insertCheckpoint,
  lockAuditHead,
  nextCheckpointNumber,
  latestCheckpoint,
  listCheckpointsAfter,
  markRecordingCheckpointed,
  readAuditEvents,
  restoreAfter,
  tryTimerCheckpointLock,
  type CheckpointRow,
  type Database,
  type Queryable,
} from '../db/index.js';
import { SallyportError } from '../errors.js';
import { verifyJws, type Signer } from '../signing/index.js';
import { canonicalJson, hashEvent } from './chain.js';

export interface CheckpointPayload {
  typ: 'sallyport.audit-checkpoint';
  /** 2: `at` is the database's clock and `prev` names the checkpoint before. */
  v: 1 | 2;
  iss: string;
  /** Consecutive from 1 (absent in checkpoints signed before numbering): a gap is a deletion. */
  n?: string;
  seq: string;
  hash: string;
  at: string;
  /** SHA-256 of the previous checkpoint's JWS (absent for the first, and before version 2). */
  prev?: string;
  recording?: RecordingEvidence;
}

export interface RecordingEvidence {
  sessionId: string;
  sha256: string;
  chainHash: string;
  bytes: number;
  durationSeconds: number;
}

/** The last checkpoint this broker signed or saw: what the table must still hold (or have moved past). */
export interface KnownCheckpoint {
  n: string;
  seq: string;
  hash: string;
  jwsSha256: string;
}

export interface Checkpointer {
  /** Signs the current head now (with a recording's evidence when one was just sealed). */
  checkpoint(recording?: RecordingEvidence): Promise<CheckpointRow>;
  /** The newest checkpoint, as published for copies outside the database. */
  latest(): Promise<CheckpointRow | null>;
  /** Why the last attempt to sign was refused (tampering suspected), or null while signing works. */
  refusal(): string | null;
  /**
   * Every tick: signs the checkpoints of recordings sealed since (one per recording, by one
   * broker), and the head whenever it has moved and `everyMs` has passed. Returns a stop
   * function that, once stopped, signs what is pending and the head if it moved (a clean stop
   * leaves its last events signed).
   */
  start(log: { warn(obj: object, msg: string): void; error?(obj: object, msg: string): void }): () => Promise<void>;
}

export const jwsDigest = (jws: string) => createHash('sha256').update(jws.trim(), 'utf8').digest('hex');

/** Read once at start; a missing file is a broker that never signed (or a new deployment). */
function readKnown(file: string | undefined): KnownCheckpoint | null {
  if (!file) return null;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SallyportError('CONFIG_INVALID', `SALLYPORT_CHECKPOINT_STATE: cannot read ${file}: ${(err as Error).message}`);
  }
  const k = JSON.parse(text) as Partial<KnownCheckpoint>;
  if (typeof k.n !== 'string' || typeof k.seq !== 'string' || typeof k.hash !== 'string' || typeof k.jwsSha256 !== 'string') {
    throw new SallyportError('CONFIG_INVALID', `SALLYPORT_CHECKPOINT_STATE: ${file} is not a checkpoint state file (n, seq, hash, jwsSha256)`);
  }
  return { n: k.n, seq: k.seq, hash: k.hash, jwsSha256: k.jwsSha256 };
}

function writeKnown(file: string, k: KnownCheckpoint): void {
  // Written whole then renamed: a crash mid-write leaves the previous state, never half a file.
  writeFileSync(`${file}.tmp`, `${JSON.stringify(k)}\n`, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

const known = (c: CheckpointRow): KnownCheckpoint => ({ n: c.n, seq: c.seq, hash: c.hash, jwsSha256: jwsDigest(c.jws) });

export function createCheckpointer(deps: {
  db: Database;
  signer: Signer;
  issuer: string;
  everyMs?: number;
  tickMs?: number;
  /** Where the last known checkpoint survives a restart, outside the database (beside the key). */
  stateFile?: string;
  /** Each checkpoint as it is made, in its transaction, so a copy leaves the database (log line, webhook outbox). */
  published?: (row: CheckpointRow, tx: Queryable) => Promise<void> | void;
  /** Signing was refused because the table or the chain disagrees with what this broker knows. */
  refused?: (reason: string) => Promise<void> | void;
  /** The table is older than this broker knew, and a recorded restore explains it. */
  restored?: (message: string) => void;
}): Checkpointer {
  const { db, signer } = deps;
  const everyMs = deps.everyMs ?? 25_000;
  let last = readKnown(deps.stateFile);
  let refusedBecause: string | null = null;
  const refuse = (message: string): never => {
    throw new SallyportError('SIGNATURE_INVALID', `audit checkpoint refused: ${message}`);
  };

  /**
   * The table's newest checkpoint, checked against what this broker knows: the same one, or newer
   * ones each signed by our keys and naming the one before. Anything else is tampering.
   */
  const checkedNewest = async (q: Queryable): Promise<CheckpointRow | null> => {
    const newest = await latestCheckpoint(q);
    if (!last) return newest;
    if (!newest || BigInt(newest.n) < BigInt(last.n)) {
      // Older than what this broker knows is tampering — unless a restore from backup was recorded
      // in the chain since, naming exactly this table's newest checkpoint as where the backup ends.
      const restore = await restoreAfter(q, newest?.seq ?? '0');
      if (restore && (restore.details.lastCheckpoint?.n ?? null) === (newest?.n ?? null)) {
        const known = last;
        last = newest ? { n: newest.n, seq: newest.seq, hash: newest.hash, jwsSha256: jwsDigest(newest.jws) } : null;
        afterCommit(q, () => {
          if (deps.stateFile && last) writeKnown(deps.stateFile, last);
          deps.restored?.(`the database was restored from a backup (event ${restore.seq}): checkpoints after ${newest?.n ?? 'none'} that this broker knew (through ${known.n}) are the recorded gap`);
        });
        return newest;
      }
    }
    if (!newest) return refuse(`the table holds no checkpoint, but this broker knows checkpoint ${last.n} (event ${last.seq}): checkpoints were deleted`);
    const n = BigInt(newest.n);
    if (n < BigInt(last.n)) return refuse(`the newest checkpoint in the table is ${newest.n}, older than checkpoint ${last.n} this broker knows: checkpoints were deleted`);
    let before = last;
    for (const c of n === BigInt(last.n) ? [newest] : await listCheckpointsAfter(q, String(BigInt(last.n) - 1n))) {
      if (c.n === before.n) {
        if (jwsDigest(c.jws) !== before.jwsSha256) return refuse(`checkpoint ${c.n} in the table is not the one this broker knows: it was replaced`);
        continue;
      }
      if (BigInt(c.n) !== BigInt(before.n) + 1n) return refuse(`checkpoint ${BigInt(before.n) + 1n} is missing from the table: checkpoints were deleted`);
      let payload: CheckpointPayload;
      try {
        payload = JSON.parse((await verifyJws(c.jws, signer.jwks())).payload) as CheckpointPayload;
      } catch {
        return refuse(`checkpoint ${c.n} in the table is not signed by this deployment's keys`);
      }
      // A broker of the previous release (during a rolling upgrade) signs without `prev`; its
      // signature and number still tie it in.
      const linked = payload.prev === before.jwsSha256 || (payload.v === 1 && payload.prev === undefined);
      if (payload.n !== c.n || payload.seq !== c.seq || payload.hash !== c.hash || !linked) {
        return refuse(`checkpoint ${c.n} in the table does not follow checkpoint ${before.n}`);
      }
      before = known(c);
    }
    return newest;
  };

  /** The events since the previous checkpoint must still chain from its hash to the head. */
  const verifySegment = async (q: Queryable, prev: CheckpointRow | null, head: { seq: string; hash: string }): Promise<void> => {
    let seq = prev?.seq ?? '0';
    let hash = prev?.hash ?? null;
    for (;;) {
      const rows = await readAuditEvents(q, seq, 2000);
      for (const r of rows) {
        if (BigInt(r.seq) !== BigInt(seq) + 1n) refuse(`event ${BigInt(seq) + 1n} is missing from the audit chain`);
        if (r.hash === null || r.prev_hash === null) {
          // Events from before the chain existed (migration 007) start the log unchained.
          if (hash !== null) refuse(`event ${r.seq} lost its hash`);
          seq = r.seq;
          continue;
        }
        const expected = hash ?? '0'.repeat(64);
        if (r.prev_hash !== expected) refuse(`event ${r.seq} does not follow ${prev && seq === prev.seq ? `checkpoint ${prev.n}` : `event ${seq}`}: the chain was rewritten`);
        const h = hashEvent({ v: r.chain_v, seq: r.seq, at: r.at, actor: r.actor, action: r.action, subject: r.subject, details: r.details, prevHash: r.prev_hash });
        if (h !== r.hash) refuse(`event ${r.seq} was changed since it was chained`);
        seq = r.seq;
        hash = r.hash;
        if (seq === head.seq) break;
      }
      if (seq === head.seq || rows.length < 2000) break;
    }
    if (seq !== head.seq || (hash ?? '0'.repeat(64)) !== head.hash) refuse(`the chain head (event ${head.seq}) is not where the events lead (event ${seq})`);
  };

  const sign = async (q: Queryable, recording?: RecordingEvidence): Promise<CheckpointRow> => {
    // Under the head's lock: the head cannot move while it is signed, and numbers stay consecutive.
    const head = await lockAuditHead(q);
    const prev = await checkedNewest(q);
    await verifySegment(q, prev, head);
    const n = await nextCheckpointNumber(q);
    const payload: CheckpointPayload = {
      typ: 'sallyport.audit-checkpoint',
      v: 2,
      iss: deps.issuer,
      n,
      seq: head.seq,
      hash: head.hash,
      // The database's clock: a broker whose own clock is off neither dates it wrong nor, by
      // dating it in the future, stops every broker from signing.
      at: head.now.toISOString(),
      ...(prev ? { prev: jwsDigest(prev.jws) } : {}),
      ...(recording ? { recording } : {}),
    };
    const jws = await signer.sign(canonicalJson(payload));
    const row = await insertCheckpoint(q, { n, seq: head.seq, hash: head.hash, signedAt: head.now, kid: signer.kid, jws, recordingSession: recording?.sessionId ?? null });
    await deps.published?.(row, q);
    afterCommit(q, () => remember(row));
    return row;
  };
  const remember = (row: CheckpointRow) => {
    if (last && BigInt(row.n) <= BigInt(last.n)) return;
    last = known(row);
    if (deps.stateFile) writeKnown(deps.stateFile, last);
  };
  const checkpoint = (recording?: RecordingEvidence, q?: Queryable): Promise<CheckpointRow> => (q ? sign(q, recording) : db.transaction((tx) => sign(tx, recording)));

  // A sealed recording's checkpoint is a job its seal's transaction created; one broker claims
  // each. The timer's checkpoint is one stream for every broker: taken under a shared lock, and
  // "is one due?" read from the table and the database's clock, not from this process.
  const pass = (dueAfterMs: number) =>
    db.transaction(async (tx) => {
      for (const r of await claimRecordingsToCheckpoint(tx)) {
        await checkpoint(
          { sessionId: r.session_id, sha256: r.sha256, chainHash: r.chain_hash, bytes: Number(r.size_bytes), durationSeconds: r.duration_seconds },
          tx,
        );
        await markRecordingCheckpointed(tx, r.session_id);
      }
      if (!(await tryTimerCheckpointLock(tx))) return;
      const head = await lockAuditHead(tx);
      const prev = await checkedNewest(tx);
      if (prev) {
        // Adopt what other brokers signed, so a later deletion of it is noticed here too.
        afterCommit(tx, () => remember(prev));
        const age = head.now.getTime() - prev.signed_at.getTime();
        // A checkpoint dated in the future (a broker with a fast clock, before times came from
        // the database) is never a reason to wait.
        if (age >= 0 && age < dueAfterMs) return;
      }
      if (head.seq !== (prev?.seq ?? '0')) await checkpoint(undefined, tx);
    });

  const attempt = async (dueAfterMs: number, log: Parameters<Checkpointer['start']>[0]) => {
    try {
      await pass(dueAfterMs);
      refusedBecause = null;
    } catch (err) {
      const message = (err as Error).message;
      if (err instanceof SallyportError && err.code === 'SIGNATURE_INVALID') {
        // Said once per distinct reason: loudly in the log, in the audit log, on /readyz and /metrics.
        if (refusedBecause !== message) {
          (log.error ?? log.warn).call(log, { alert: 'audit_tampering' }, message);
          await Promise.resolve(deps.refused?.(message)).catch(() => undefined);
        }
        refusedBecause = message;
      } else {
        log.warn({}, `audit checkpoint failed, will retry: ${message}`);
      }
    }
  };

  return {
    checkpoint,
    latest: () => latestCheckpoint(db),
    refusal: () => refusedBecause,
    start(log) {
      let stopped = false;
      let running: Promise<unknown> | undefined;
      const timer = setInterval(() => {
        if (running || stopped) return;
        running = attempt(everyMs, log).finally(() => {
          running = undefined;
        });
      }, deps.tickMs ?? 1000);
      timer.unref();
      return async () => {
        stopped = true;
        clearInterval(timer);
        await running;
        await attempt(0, log);
      };
    },
  };
}
