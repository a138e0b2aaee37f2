// The mover: sealed recordings leave PostgreSQL for object storage. Any broker runs it; each
// recording is claimed with a row lock (skip locked). The object is the .cast file itself,
// streamed from the stored chunks and hashed on the way: it must have the SHA-256 the recording
// was sealed with and the size the store reports, or nothing changes. Then, in one transaction
// with its audit event (recording.stored), the chunk rows give up their bytes for offsets.
import { repeatPass } from '../rate-limit.js';
import { createHash } from 'node:crypto';
import type { AuditLog } from '../audit/index.js';
import { claimRecordingToStore, markRecordingStored, readStoredChunks, type Database } from '../db/index.js';
import { SallyportError } from '../errors.js';
import type { ObjectStore } from './objects.js';

/** Recordings moved per pass: each is one upload; the next pass takes the next ones. */
const PER_PASS = 20;

export interface RecordingMover {
  /** Moves what is ready (at most PER_PASS recordings); returns the session ids moved. */
  pass(): Promise<string[]>;
  start(log: { warn(obj: object, msg: string): void }, everyMs: number): () => Promise<void>;
}

export function createRecordingMover(deps: { db: Database; audit: AuditLog; objects: ObjectStore }): RecordingMover {
  const { db, audit, objects } = deps;
  const moveOne = () =>
    db.transaction(async (tx) => {
      const r = await claimRecordingToStore(tx);
      if (!r) return null;
      const key = objects.keyFor(r.session_id, r.started_at);
      const size = Number(r.size_bytes);
      const hash = createHash('sha256');
      async function* body(): AsyncGenerator<Buffer> {
        for await (const c of readStoredChunks(tx, r!.session_id)) {
          hash.update(c.data);
          yield c.data;
        }
      }
      await objects.put(key, body(), size);
      const sha256 = hash.digest('hex');
      const stored = await objects.size(key);
      if (sha256 !== r.sha256 || stored !== size) {
        // What was read is not what was sealed (or the store kept something else): keep the
        // recording where it is; verification of it will say what changed.
        await objects.remove(key).catch(() => undefined);
        throw new SallyportError('INTERNAL', `recording ${r.session_id} not moved to ${objects.location}: read ${sha256} (${stored ?? 'no'} bytes stored), sealed as ${r.sha256} (${size} bytes)`);
      }
      await markRecordingStored(tx, r.session_id, key);
      await audit.append({ actor: 'system', action: 'recording.stored', subject: r.session_id, details: { store: 's3', bucket: objects.bucket, key, sha256, bytes: size } }, tx);
      return r.session_id;
    });
  const mover: RecordingMover = {
    async pass() {
      const moved: string[] = [];
      while (moved.length < PER_PASS) {
        const id = await moveOne();
        if (!id) break;
        moved.push(id);
      }
      return moved;
    },
    start(log, everyMs) {
      return repeatPass(() => mover.pass(), everyMs, log, 'recordings not moved to object storage');
    },
  };
  return mover;
}
