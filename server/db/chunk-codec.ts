// How recording chunks are stored: compressed by the broker (PostgreSQL's own lz4 finds little to
// gain in terminal output; an entropy coder halves a hex dump and shrinks a log dump ten-fold),
// or as recorded for rows written before migration 028 and chunks too small to gain.
// Repositories encode on write and decode on read, so every caller sees the recorded bytes
// (hashes, bundles, verification are unchanged).
//
// Zstandard (RFC 8878) at level 1: measured on 256 KiB chunks (bench/storage.ts, docs/
// performance.md) it costs 4–6 ms of CPU per MiB where DEFLATE level 1 costs 6–24 ms, for the same
// ratio on a hex dump and four times better on `seq`. Node marks its zstd API experimental (the
// format is a standard): where it is missing, chunks are stored DEFLATE'd, and both read back.
import { promisify } from 'node:util';
import zlib from 'node:zlib';

const hasZstd = typeof zlib.zstdCompress === 'function';
const pack = hasZstd
  ? (b: Buffer) => promisify(zlib.zstdCompress)(b, { params: { [zlib.constants.ZSTD_c_compressionLevel]: 1 } })
  : (b: Buffer) => promisify(zlib.deflateRaw)(b, { level: 1 });
const ENCODING: 'zstd' | 'deflate' = hasZstd ? 'zstd' : 'deflate';

/** Smaller chunks (a keystroke's echo, a prompt) are stored as recorded: nothing to gain. */
const MIN_BYTES = 512;

export interface EncodedChunk {
  data: Buffer;
  encoding: 'zstd' | 'deflate' | null;
  /** The recorded length, when data is encoded. */
  rawBytes: number | null;
}

/** Compressed off the event loop (zlib's thread pool); kept as recorded unless it saves a tenth. */
export async function encodeChunk(raw: Buffer): Promise<EncodedChunk> {
  if (raw.length < MIN_BYTES) return { data: raw, encoding: null, rawBytes: null };
  const packed = await pack(raw);
  return packed.length < raw.length * 0.9 ? { data: packed, encoding: ENCODING, rawBytes: raw.length } : { data: raw, encoding: null, rawBytes: null };
}

export async function decodeChunk(row: { data: Buffer; encoding: string | null }): Promise<Buffer> {
  if (row.encoding === null) return row.data;
  if (row.encoding === 'zstd') return promisify(zlib.zstdDecompress)(row.data);
  if (row.encoding === 'deflate') return promisify(zlib.inflateRaw)(row.data);
  throw new Error(`recording chunk stored with an unknown encoding "${row.encoding}"`);
}
/** Decodes rows in place of their data (same order). */
export async function decodeChunks<T extends { data: Buffer; encoding: string | null }>(rows: T[]): Promise<Array<Omit<T, 'encoding'>>> {
  return Promise.all(
    rows.map(async (r) => {
      const { encoding: _encoding, ...rest } = r;
      return { ...rest, data: await decodeChunk(r) };
    }),
  );
}

/** The recorded length of a chunk row, in SQL (raw_bytes, or the stored length of a row as recorded). */
export const RECORDED_BYTES = (alias = '') => `coalesce(${alias}raw_bytes, octet_length(${alias}data))`;
