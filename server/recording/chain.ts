// Hash chain over a recording's chunks: h(i) = SHA-256("<h(i-1)>\n<i>\n" ‖ bytes of chunk i),
// with h(-1) all zeros. The last h is the recording's chain hash; with each chunk's stored h a
// verifier locates the first changed chunk, and a truncated recording no longer reaches the
// signed final hash. Shared by the recorder and the verifiers (online and offline).
import { createHash } from 'node:crypto';

export const RECORDING_GENESIS = '0'.repeat(64);

export function chunkHash(prev: string, seq: number, data: Uint8Array): string {
  return createHash('sha256').update(`${prev}\n${seq}\n`, 'utf8').update(data).digest('hex');
}
