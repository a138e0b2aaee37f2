// Sealing a recording whose recorder died with its broker: from the chunks that reached storage
// alone, compute the file hash, the chunk-chain hash, size and duration, and add one marker
// event saying why it ends early. The marker is a chunk like any other (chained after the last
// stored one), so replay shows it and the verifier checks it like the rest.
import { createHash } from 'node:crypto';
import { eventLine } from './asciicast.js';
import { chunkHash, RECORDING_GENESIS } from './chain.js';
import type { RecordingSeal } from './recorder.js';

/** The marker event's text begins with this; the verifier reads the reason after it. */
export const TRUNCATED_MARKER = 'recording truncated: ';

export interface TruncatedRecording {
  seal: RecordingSeal;
  /** The marker chunk to store before sealing. */
  marker: { seq: number; data: Buffer; chainHash: string; t: number };
}

export async function sealStoredChunks(
  chunks: AsyncIterable<{ seq: number; data: Buffer; t_end: number | null }>,
  why: string,
): Promise<TruncatedRecording | null> {
  const hash = createHash('sha256');
  let chain = RECORDING_GENESIS;
  let next = 0;
  let size = 0;
  let t = 0;
  for await (const c of chunks) {
    // A gap means a write was lost mid-way; the chain stops at the last contiguous chunk.
    if (c.seq !== next) break;
    hash.update(c.data);
    chain = chunkHash(chain, c.seq, c.data);
    size += c.data.length;
    if (c.t_end !== null && c.t_end > t) t = c.t_end;
    next++;
  }
  if (next === 0) return null; // not even the header was stored
  const data = Buffer.from(eventLine(t, 'm', `${TRUNCATED_MARKER}${why}`));
  hash.update(data);
  chain = chunkHash(chain, next, data);
  size += data.length;
  return {
    seal: { sha256: hash.digest('hex'), chainHash: chain, size, durationSeconds: t },
    marker: { seq: next, data, chainHash: chain, t },
  };
}
