// A recording's bytes, wherever they are: in PostgreSQL (live and recently sealed recordings,
// every recording with the postgres store), or in its object once the mover moved it. Every
// reader of a sealed recording (download, bundle, player, verifier) comes through here.
import { listObjectChunks, readChunkRange, readStoredChunks, recordingObjectKey, type Queryable, type StoredChunk } from '../db/index.js';
import { SallyportError } from '../errors.js';
import type { ObjectStore } from './objects.js';

function needStore(objects: ObjectStore | null, sessionId: string, key: string): ObjectStore {
  if (!objects) {
    throw new SallyportError('RUNTIME_UNAVAILABLE', `the recording of ${sessionId} is in object storage (${key}), and this process has no SALLYPORT_RECORDING_STORE=s3 configured to read it`);
  }
  return objects;
}

/** Cuts a byte stream into pieces of the given lengths, in order. */
async function* cut(stream: AsyncIterable<Buffer>, lengths: number[]): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let have = 0;
  let i = 0;
  for await (const piece of stream) {
    pending.push(piece);
    have += piece.length;
    while (i < lengths.length && have >= lengths[i]!) {
      const all = Buffer.concat(pending);
      yield all.subarray(0, lengths[i]!);
      pending = [all.subarray(lengths[i]!)];
      have -= lengths[i]!;
      i++;
    }
  }
  if (i < lengths.length) throw new SallyportError('INTERNAL', `a recording object ended after ${i} of ${lengths.length} chunks`);
}

/** Every chunk in order, with its hash, a page at a time: a long recording is never held whole. */
export async function* storedChunks(db: Queryable, objects: ObjectStore | null, sessionId: string): AsyncGenerator<StoredChunk> {
  const key = await recordingObjectKey(db, sessionId);
  if (key === null) {
    yield* readStoredChunks(db, sessionId);
    return;
  }
  const store = needStore(objects, sessionId, key);
  const rows = await listObjectChunks(db, sessionId);
  let n = 0;
  for await (const data of cut(await store.get(key), rows.map((r) => r.bytes))) {
    const r = rows[n++]!;
    yield { seq: r.seq, data, hash: r.hash, t_end: r.t_end };
  }
}

/** The recording's bytes, chunk by chunk (downloads, bundles). */
export async function* recordingBytes(db: Queryable, objects: ObjectStore | null, sessionId: string): AsyncGenerator<Buffer> {
  for await (const c of storedChunks(db, objects, sessionId)) yield c.data;
}

/** Chunks from..to (inclusive), for the player's window: one ranged read from an object. */
export async function chunkRange(db: Queryable, objects: ObjectStore | null, sessionId: string, from: number, to: number): Promise<Array<{ seq: number; data: Buffer }>> {
  const key = await recordingObjectKey(db, sessionId);
  if (key === null) return readChunkRange(db, sessionId, from, to);
  const store = needStore(objects, sessionId, key);
  const rows = await listObjectChunks(db, sessionId, from, to);
  if (rows.length === 0) return [];
  const first = rows[0]!;
  const last = rows.at(-1)!;
  const out: Array<{ seq: number; data: Buffer }> = [];
  let n = 0;
  for await (const data of cut(await store.get(key, { start: first.offset, end: last.offset + last.bytes - 1 }), rows.map((r) => r.bytes))) out.push({ seq: rows[n++]!.seq, data });
  return out;
}
