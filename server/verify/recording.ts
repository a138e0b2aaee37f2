// Verifies one recording against what was signed when it was sealed: every chunk's place in
// the chunk hash chain, the final chain hash, the file's SHA-256, its size. Locates the first
// changed or missing chunk, or says where a truncated recording stops. Works on chunks from
// the database, or on a plain .cast file (then only the file hash and size can be compared).
import { createHash } from 'node:crypto';
import type { RecordingEvidence } from '../audit/index.js';
import { chunkEvents, chunkHash, RECORDING_GENESIS, TRUNCATED_MARKER } from '../recording/index.js';

export interface RecordingReport {
  ok: boolean;
  sessionId: string;
  chunks: number;
  bytes: number;
  problem: { chunk: number | null; kind: 'changed' | 'removed' | 'truncated' | 'mismatch' | 'expired'; message: string } | null;
  summary: string;
}

export async function verifyRecordingChunks(
  sessionId: string,
  chunks: AsyncIterable<{ seq: number; data: Uint8Array; hash: string | null }>,
  sealed: RecordingEvidence,
  source: string,
): Promise<RecordingReport> {
  let prev = RECORDING_GENESIS;
  let expected = 0;
  let bytes = 0;
  let last: Uint8Array | undefined;
  const file = createHash('sha256');
  const done = (problem: RecordingReport['problem']): RecordingReport => ({
    ok: !problem,
    sessionId,
    chunks: expected,
    bytes,
    problem,
    summary: problem
      ? `recording ${sessionId}: ${problem.message}`
      : `recording ${sessionId} is intact: ${expected} chunks, ${bytes} bytes, sha256 ${sealed.sha256} as ${source}${endsEarly(last, expected)}`,
  });
  for await (const c of chunks) {
    if (c.seq !== expected) return done({ chunk: expected, kind: 'removed', message: `chunk ${expected} was removed` });
    const h = chunkHash(prev, c.seq, c.data);
    if (c.hash !== h) return done({ chunk: c.seq, kind: 'changed', message: `chunk ${c.seq} was changed (bytes ${bytes}…${bytes + c.data.length - 1})` });
    prev = h;
    last = c.data;
    expected++;
    bytes += c.data.length;
    file.update(c.data);
  }
  if (prev !== sealed.chainHash || bytes !== sealed.bytes) {
    return done({
      chunk: expected,
      kind: 'truncated',
      message: `the recording stops after chunk ${expected - 1} (${bytes} of ${sealed.bytes} bytes ${source}): it was truncated`,
    });
  }
  const sha256 = file.digest('hex');
  if (sha256 !== sealed.sha256) return done({ chunk: null, kind: 'mismatch', message: `the file hash ${sha256} differs from the sealed ${sealed.sha256}` });
  return done(null);
}

/**
 * A recording sealed from storage after its recorder died ends with one marker event saying
 * why (recording/seal-stored.ts); the verifier says so instead of nothing.
 */
function endsEarly(last: Uint8Array | undefined, chunks: number): string {
  if (!last) return '';
  const events = chunkEvents(last);
  const marker = events.length === 1 && events[0]!.code === 'm' && events[0]!.data.startsWith(TRUNCATED_MARKER) ? events[0]!.data : undefined;
  return marker ? `; it ends early at chunk ${chunks - 1} (${marker.slice(TRUNCATED_MARKER.length)})` : '';
}

/** A recording as one file (a download or the .cast in a bundle): hash and size only. */
export async function verifyRecordingFile(sessionId: string, data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, sealed: RecordingEvidence, source: string): Promise<RecordingReport> {
  return compareRecordingFile(sessionId, await digestFile(data), sealed, source);
}

/** A file's SHA-256 and size, read as it streams. */
export async function digestFile(data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<{ sha256: string; bytes: number }> {
  const file = createHash('sha256');
  let bytes = 0;
  for await (const d of data) {
    file.update(d);
    bytes += d.length;
  }
  return { sha256: file.digest('hex'), bytes };
}

/** Whether a file with this digest is the sealed recording. */
export function compareRecordingFile(sessionId: string, digest: { sha256: string; bytes: number }, sealed: RecordingEvidence, source: string): RecordingReport {
  const { sha256, bytes } = digest;
  const base = { sessionId, chunks: 0, bytes };
  if (bytes !== sealed.bytes || sha256 !== sealed.sha256) {
    const kind = bytes < sealed.bytes ? ('truncated' as const) : ('mismatch' as const);
    const message =
      kind === 'truncated'
        ? `the file has ${bytes} of ${sealed.bytes} bytes ${source}: it was truncated`
        : `the file (sha256 ${sha256}, ${bytes} bytes) differs from the recording ${source} (sha256 ${sealed.sha256}, ${sealed.bytes} bytes)`;
    return { ...base, ok: false, problem: { chunk: null, kind, message }, summary: `recording ${sessionId}: ${message}` };
  }
  return { ...base, ok: true, problem: null, summary: `recording ${sessionId} is intact: ${bytes} bytes, sha256 ${sha256} as ${source}` };
}
