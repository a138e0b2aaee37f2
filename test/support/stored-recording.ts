// A session's recording as stored, read back the way an auditor's verifier reads it: its events
// (the output joined, the markers), whether it was sealed truncated, and the verifier's report on
// its chunk chain and seal — for tests that assert nothing was lost across a fault.
import { readStoredChunks, type Queryable } from '../../server/db/index.js';
import { parseAsciicast, type ParsedEvent } from '../../server/recording/index.js';
import { verifyRecordingChunks, type RecordingReport } from '../../server/verify/index.js';

export interface StoredRecording {
  events: ParsedEvent[];
  /** Every output event's text, in order. */
  output: string;
  markers: string[];
  truncated: string | null;
  report: RecordingReport;
}

export async function storedRecording(db: Queryable, id: string): Promise<StoredRecording> {
  const chunks: Array<{ seq: number; data: Buffer; hash: string | null }> = [];
  for await (const ch of readStoredChunks(db, id)) chunks.push(ch);
  const { events } = parseAsciicast(Buffer.concat(chunks.map((ch) => ch.data)).toString('utf8'));
  const rec = (await db.query(`select sha256, chain_hash, size_bytes::int as bytes, duration_seconds, truncated from recordings where session_id = $1`, [id])).rows[0];
  const report = await verifyRecordingChunks(
    id,
    (async function* () {
      yield* chunks;
    })(),
    { sessionId: id, sha256: rec.sha256, chainHash: rec.chain_hash, bytes: rec.bytes, durationSeconds: rec.duration_seconds },
    'database',
  );
  return {
    events,
    output: events.filter((e) => e.code === 'o').map((e) => e.data).join(''),
    markers: events.filter((e) => e.code === 'm').map((e) => e.data),
    truncated: rec.truncated,
    report,
  };
}

/** The numbers of the lines `<prefix>-<n>` in the output, in the order printed. */
export function countedLines(output: string, prefix: string): number[] {
  return [...output.matchAll(new RegExp(`^${prefix}-(\\d+)\\r?$`, 'gm'))].map((m) => Number(m[1]));
}
