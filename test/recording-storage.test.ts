// Sealed recordings in object storage, against a real S3 server (Ceph's radosgw, on loopback):
// the mover puts a sealed, signed, indexed recording into one object, the .cast file itself
// (its SHA-256 the sealed one), audited; the database keeps offsets, not bytes. Then everything an
// auditor does reads from the object: download, the player's index and chunk windows, the
// evidence bundle (verified offline), `verify recording` (EXPIRED, OK, TAMPERED as it should);
// search still finds its words; retention removes the object too.
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadRecordingStoreConfig } from '../server/config/index.js';
import { verifyAuditLog } from '../server/verify/index.js';
import { apiSession, type ApiSession } from './support/api-session.js';
import { startTestBroker, type TestBroker } from './support/broker.js';
import { connectConsole, PROMPT } from './support/console-client.js';
import { writeConsoleCatalog } from './support/console-catalog.js';
import { runCli, waitFor } from './support/process.js';
import { startS3, type S3Server } from './support/s3.js';

let s3: S3Server;
let client: S3Client;
let t: TestBroker;
let alice: ApiSession, carol: ApiSession;
const bucket = `rec-${randomBytes(4).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), 'sallyport-objects-'));

beforeAll(async () => {
  s3 = await startS3();
  client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  t = await startTestBroker({ SALLYPORT_CATALOG: writeConsoleCatalog(inject('consoleImage')), CONSOLE_GREETING: 'x', SALLYPORT_RECORDING_RETENTION: '30d', ...s3.env(bucket) });
  [alice, carol] = [await apiSession(t, 'alice'), await apiSession(t, 'carol')];
}, 120_000);
afterAll(async () => {
  await t?.close();
  s3?.stop();
});

/** A console of alice's that prints `word` and a few hundred KiB, ended, sealed, signed, indexed, keyframed. */
async function recorded(word: string): Promise<string> {
  const c = await connectConsole(t.url, 'shell', { cookie: `sallyport=${alice.browser.cookies(t.url).get('sallyport')}` });
  await c.waitFor(PROMPT);
  const id = c.sessionId();
  c.type(`echo "${word.slice(0, 3)}""${word.slice(3)}"; seq 1 80000; echo "end-""of-""it"; exit\r`);
  await c.closed;
  await waitFor('ready to move', async () => {
    const r = await t.broker.db.query(
      `select 1 from recordings r where session_id = $1 and keyframes_done
          and exists (select 1 from audit_checkpoints c where c.recording_session = r.session_id)
          and not exists (select 1 from recording_index_queue q where q.session_id = r.session_id)`,
      [id],
    );
    return r.rowCount ? true : undefined;
  }, 30_000);
  return id;
}

const env = (withStore: boolean) => ({ DATABASE_URL: t.config.databaseUrl, SALLYPORT_SIGNING_KEY: JSON.stringify(t.config.signing.key), ...(withStore ? s3.env(bucket) : {}) });
const object = async (key: string) => Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());

describe('recordings in object storage', () => {
  it('moves a sealed recording into one object and reads it from there for replay, download, bundle, verify and search', async () => {
    const id = await recorded('objectword');
    const before = (await t.broker.db.query(`select sha256, size_bytes::int as size from recordings where session_id = $1`, [id])).rows[0];
    const cookie = { headers: { cookie: `sallyport=${carol.browser.cookies(t.url).get('sallyport')}` } };
    const castBefore = Buffer.from(await (await fetch(`${t.url}/api/sessions/${id}/recording`, cookie)).arrayBuffer());
    const indexBefore = (await carol.get(`/api/sessions/${id}/index`)).body;
    const windowBefore = Buffer.from(await (await fetch(`${t.url}/api/sessions/${id}/chunks?from=2&to=4`, cookie)).arrayBuffer());

    expect(await t.broker.mover!.pass()).toContain(id);

    // One object, the .cast file itself; the database keeps offsets, not bytes; audited.
    const rec = (await t.broker.db.query(`select object_key, stored_at from recordings where session_id = $1`, [id])).rows[0];
    expect(rec.object_key).toMatch(new RegExp(`^sallyport/recordings/\\d{4}-\\d{2}/${id}\\.cast$`));
    const stored = await object(rec.object_key);
    expect(stored.length).toBe(before.size);
    expect(createHash('sha256').update(stored).digest('hex')).toBe(before.sha256);
    const left = (await t.broker.db.query(`select count(*) filter (where data is not null)::int as with_bytes, count(*)::int as n from recording_chunks where session_id = $1`, [id])).rows[0];
    expect(left.with_bytes).toBe(0);
    expect(left.n).toBeGreaterThan(3);
    const event = (await t.broker.audit.list({ action: 'recording.stored', limit: 10 })).find((e) => e.subject === id);
    expect(event?.details).toMatchObject({ store: 's3', bucket, key: rec.object_key, sha256: before.sha256, bytes: before.size });

    // What people read is the same, byte for byte.
    expect(Buffer.from(await (await fetch(`${t.url}/api/sessions/${id}/recording`, cookie)).arrayBuffer()).equals(castBefore)).toBe(true);
    expect((await carol.get(`/api/sessions/${id}/index`)).body).toEqual(indexBefore);
    expect(Buffer.from(await (await fetch(`${t.url}/api/sessions/${id}/chunks?from=2&to=4`, cookie)).arrayBuffer()).equals(windowBefore)).toBe(true);
    const hits = (await carol.get('/api/search?q=objectword')).body.results as Array<{ sessionId: string }>;
    expect(hits.map((h) => h.sessionId)).toContain(id);

    // The evidence bundle, verified offline against the published keys.
    const bundle = join(dir, 'bundle.tar');
    // (Its recording.stored event under a signed checkpoint first, as a bundle needs: signed now.)
    await t.broker.checkpointer.checkpoint();
    writeFileSync(bundle, Buffer.from(await (await fetch(`${t.url}/api/sessions/${id}/bundle`, cookie)).arrayBuffer()));
    const jwks = join(dir, 'jwks.json');
    writeFileSync(jwks, await (await fetch(`${t.url}/.well-known/jwks.json`)).text());
    const offline = await runCli(['verify', 'recording', bundle, '--jwks', jwks], {});
    expect(offline.stdout, offline.stderr).toMatch(/^OK: bundle for session .* is intact/);

    // The verifier reads the object; without the store's settings it says what it needs.
    const v = await runCli(['verify', 'recording', id], env(true));
    expect(v.stdout, v.stderr).toMatch(new RegExp(`^OK: recording ${id} is intact`));
    const noStore = await runCli(['verify', 'recording', id], env(false));
    expect(noStore.code).not.toBe(0);
    expect(noStore.stderr).toMatch(/is in object storage .*SALLYPORT_RECORDING_STORE=s3/);
    expect((await verifyAuditLog(t.broker.db, t.broker.signer.jwks())).problem).toBeNull();
  }, 120_000);

  it('finds an object changed in the bucket, and retention removes the object with the recording', async () => {
    const id = await recorded('changedword');
    expect(await t.broker.mover!.pass()).toContain(id);
    const key = (await t.broker.db.query(`select object_key from recordings where session_id = $1`, [id])).rows[0].object_key as string;
    const original = await object(key);
    // Someone with the bucket's keys edits the recording (same length, one word changed).
    const edited = Buffer.from(original.toString('latin1').replace('changedword', 'CHANGEDWORD'), 'latin1');
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: edited }));
    const v = await runCli(['verify', 'recording', id], env(true));
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/^TAMPERED: .*chunk \d+ was changed/);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: original }));

    await t.broker.db.query(`update console_sessions set ended_at = now() - interval '40 days' where id = $1`, [id]);
    expect((await t.broker.retention.pass()).expired).toContain(id);
    const gone = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).then(() => 'present', (err: { name?: string }) => err.name);
    expect(gone).toBe('NotFound');
    expect((await t.broker.db.query(`select object_key from recordings where session_id = $1`, [id])).rows[0].object_key).toBeNull();
    const expired = await runCli(['verify', 'recording', id], env(true));
    expect(expired.code).toBe(3);
    expect((await carol.get(`/api/sessions/${id}/recording`)).status).toBe(410);
  }, 120_000);

  it('refuses store settings that would lose or leak recordings, naming the variable', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadRecordingStoreConfig(env);
        return [];
      } catch (err) {
        return ((err as { problems?: Array<{ field: string; message: string }> }).problems ?? []).map((p) => `${p.field}: ${p.message}`);
      }
    };
    expect(problems({ SALLYPORT_RECORDING_STORE: 's3' })).toEqual([expect.stringMatching(/^SALLYPORT_S3_BUCKET: is required/)]);
    expect(problems({ SALLYPORT_RECORDING_STORE: 'disk' })).toEqual([expect.stringMatching(/^SALLYPORT_RECORDING_STORE: must be postgres or s3/)]);
    expect(problems({ SALLYPORT_RECORDING_STORE: 's3', SALLYPORT_S3_BUCKET: 'rec', SALLYPORT_S3_ENDPOINT: 'http://s3.internal:7480' })).toEqual([expect.stringMatching(/^SALLYPORT_S3_ENDPOINT: must use https/)]);
    expect(problems({ SALLYPORT_RECORDING_STORE: 's3', SALLYPORT_S3_BUCKET: 'rec', SALLYPORT_S3_ACCESS_KEY_ID: 'AK' })).toEqual([expect.stringMatching(/^SALLYPORT_S3_SECRET_ACCESS_KEY: set both/)]);
    expect(problems({ SALLYPORT_S3_BUCKET: 'rec' })).toEqual([expect.stringMatching(/^SALLYPORT_S3_BUCKET: is set but SALLYPORT_RECORDING_STORE is not s3/)]);
    expect(problems({ SALLYPORT_RECORDING_STORE: 's3', SALLYPORT_S3_BUCKET: 'rec', SALLYPORT_S3_ENDPOINT: 'https://s3.internal' })).toEqual([]);
  });
});
