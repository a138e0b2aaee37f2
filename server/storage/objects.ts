// Object storage for sealed recordings: an S3 bucket (AWS, or an S3-compatible server such as
// Ceph's radosgw or MinIO, path-style). One object per recording, the .cast file itself.
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import type { RecordingStoreConfig } from '../config/index.js';
import { SallyportError } from '../errors.js';

export interface ObjectStore {
  /** Where objects go, for messages and audit events (s3://bucket/prefix). */
  readonly location: string;
  readonly bucket: string;
  /** The object for a recording: under the prefix, by the month its console started. */
  keyFor(sessionId: string, startedAt: Date): string;
  put(key: string, body: AsyncIterable<Buffer>, length: number): Promise<void>;
  /** The object's size, or null when there is none. */
  size(key: string): Promise<number | null>;
  /** The object's bytes, or those from `start` to `end` inclusive. */
  get(key: string, range?: { start: number; end: number }): Promise<AsyncIterable<Buffer>>;
  remove(key: string): Promise<void>;
}

/** Calls time out rather than hold a console's replay or a job for ever. */
const CALL_TIMEOUT_MS = 60_000;

export function createObjectStore(config: RecordingStoreConfig): ObjectStore | null {
  if (config.kind !== 's3') return null;
  const client = new S3Client({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint, forcePathStyle: true } : {}),
    // A copy: the configuration is frozen, and the SDK marks the credentials object it is given.
    ...(config.credentials ? { credentials: { ...config.credentials } } : {}),
    // Checksums only where S3 requires them: S3-compatible servers (radosgw 16) refuse the
    // newer default ones; the broker checks the recording's own SHA-256 after each upload.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
  });
  const { bucket } = config;
  const location = `s3://${bucket}/${config.prefix}`;
  const unavailable = (what: string, err: unknown) =>
    new SallyportError('RUNTIME_UNAVAILABLE', `object storage ${location}: ${what} failed: ${(err as { name?: string }).name ?? ''} ${(err as Error).message}`.replace(/\s+/g, ' '), { cause: err });
  const signal = () => AbortSignal.timeout(CALL_TIMEOUT_MS);
  return {
    location,
    bucket,
    keyFor: (sessionId, startedAt) => `${config.prefix}recordings/${startedAt.toISOString().slice(0, 7)}/${sessionId}.cast`,
    async put(key, body, length) {
      try {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Readable.from(body), ContentLength: length, ContentType: 'application/x-asciicast' }), {
          abortSignal: AbortSignal.timeout(Math.max(CALL_TIMEOUT_MS, length / 1024)),
        });
      } catch (err) {
        throw unavailable(`storing ${key}`, err);
      }
    },
    async size(key) {
      try {
        return (await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal() })).ContentLength ?? null;
      } catch (err) {
        if ((err as { name?: string }).name === 'NotFound' || (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return null;
        throw unavailable(`looking at ${key}`, err);
      }
    },
    async get(key, range) {
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }), { abortSignal: signal() });
        return out.Body as Readable;
      } catch (err) {
        throw unavailable(`reading ${key}`, err);
      }
    },
    async remove(key) {
      try {
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal() });
      } catch (err) {
        throw unavailable(`deleting ${key}`, err);
      }
    },
  };
}
