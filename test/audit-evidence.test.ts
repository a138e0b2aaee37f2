// Tamper evidence on real PostgreSQL, with a real broker producing the evidence (logins, a real
// Docker console and its sealed recording, concurrent audit writers). Each attack runs on its
// own copy of that database, as an attacker with table-owner rights would: disable the
// append-only trigger, then change, delete or insert rows — or rewrite the chain consistently,
// or truncate a recording. The verifier must notice each one and say where.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { canonicalJson, hashEvent } from '../server/audit/index.js';
import { openDatabase, readStoredChunks, type Database } from '../server/db/index.js';
import { createSigner, generateSigningKey, publicJwk, type Jwks } from '../server/signing/index.js';
import { verifyAuditLog, verifyStoredRecording } from '../server/verify/index.js';
import { Browser, startTestBroker, type TestBroker } from './support/broker.js';
import { connectConsole, PROMPT } from './support/console-client.js';
import { writeConsoleCatalog } from './support/console-catalog.js';
import { adminQuery, databaseUrl, freshDatabase, type TestDatabase } from './support/postgres.js';
import { runCli } from './support/process.js';
import { recomputeFrom, tamper } from './support/tamper.js';

let orig: TestDatabase;
let catalog: string;
let jwks: Jwks;
let jwksFile: string;
let signingKey: string;
let sessionId: string;
/** The published checkpoint, saved outside the database before any attack. */
let publishedFile: string;
const clones: Array<{ db: Database; name: string }> = [];

/** A copy of the evidence database for one attack. */
async function copy(): Promise<Database> {
  const name = `sallyport_t_${randomBytes(6).toString('hex')}`;
  await adminQuery(`create database ${name} template ${orig.name}`);
  const db = openDatabase(databaseUrl(name), { poolSize: 2 });
  clones.push({ db, name });
  return db;
}
const nameOf = (db: Database) => clones.find((c) => c.db === db)!.name;
/** Changes event k and recomputes every later hash exactly as the broker would, moving the head. */
const rewriteFrom = (db: Database, k: number, ...more: string[]) =>
  recomputeFrom(db, k, [`update audit_events set details = jsonb_set(details, '{username}', '"mallory"') where seq = ${k}`], ...more);
const lastSeq = async (db: Database) => Number((await db.query(`select max(seq)::int as n from audit_events`)).rows[0].n);
const seqOf = async (db: Database, action: string) => Number((await db.query(`select min(seq)::int as n from audit_events where action = $1`, [action])).rows[0].n);

beforeAll(async () => {
  orig = await freshDatabase();
  catalog = writeConsoleCatalog(inject('consoleImage'));
  signingKey = JSON.stringify(await generateSigningKey('evidence-2026-11'));
  const t: TestBroker = await startTestBroker({ SALLYPORT_CATALOG: catalog, CONSOLE_GREETING: 'x', SALLYPORT_SIGNING_KEY: signingKey }, { database: orig });
  try {
    const b = new Browser();
    await t.login(b, 'alice');
    const c = await connectConsole(t.url, 'shell', { cookie: `sallyport=${b.cookies(t.url).get('sallyport')}` });
    await c.waitFor(PROMPT);
    sessionId = c.sessionId();
    c.type('for i in 1 2 3 4 5 6 7; do echo "line-$i"; sleep 0.4; done; exit\n');
    await c.closed;
    // The recording's checkpoint is signed right after the session's end is committed.
    for (let i = 0; i < 50 && !(await t.broker.db.query(`select 1 from audit_checkpoints where recording_session = $1`, [sessionId])).rowCount; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    // Many writers at once, alone and inside transactions: the chain must stay one line.
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        i % 2
          ? t.broker.audit.append({ actor: 'system', action: 'broker.started', details: { version: `w${i}`, mode: 'test', leaseSeconds: 30 } })
          : t.broker.db.transaction((tx) => t.broker.audit.append({ actor: 'system', action: 'broker.started', details: { version: `t${i}`, mode: 'test', leaseSeconds: 30 } }, tx)),
      ),
    );
    await t.broker.checkpointer.checkpoint();
    jwks = (await (await fetch(`${t.url}/.well-known/jwks.json`)).json()) as Jwks;
    const published = await fetch(`${t.url}/.well-known/sallyport/checkpoint`);
    expect(published.status).toBe(200);
    publishedFile = join(mkdtempSync(join(tmpdir(), 'sallyport-published-')), 'checkpoint.json');
    writeFileSync(publishedFile, await published.text());
  } finally {
    await t.close();
  }
  jwksFile = join(mkdtempSync(join(tmpdir(), 'sallyport-jwks-')), 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify(jwks));
});
afterAll(async () => {
  for (const c of clones) {
    await c.db.close();
    await adminQuery(`drop database if exists ${c.name} with (force)`);
  }
  await orig?.drop();
});

describe('an untouched log', () => {
  it('verifies through the last event and the last signed checkpoint', async () => {
    expect(jwks.keys).toEqual([expect.objectContaining({ kty: 'OKP', crv: 'Ed25519', kid: 'evidence-2026-11', alg: 'EdDSA' })]);
    expect(jwks.keys[0]).not.toHaveProperty('d');
    const db = await copy();
    const n = await lastSeq(db);
    const seqs = (await db.query(`select seq::int as s from audit_events order by seq`)).rows.map((r) => r.s);
    expect(seqs).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    const report = await verifyAuditLog(db, jwks);
    expect(report.problem).toBeNull();
    expect(report.summary).toMatch(new RegExp(`^intact through event ${n} / checkpoint \\d+ \\(event ${n}, signed .* by evidence-2026-11\\)\\. Checked against the database alone: a rewrite that also deleted every checkpoint cannot be detected from it`));

    const cli = await runCli(['verify', 'audit', '--jwks', jwksFile], { DATABASE_URL: orig.url });
    expect(cli.stdout).toMatch(new RegExp(`^OK: intact through event ${n} / checkpoint`));
    expect(cli.code).toBe(0);
  });

  it('has the sealed recording in a signed checkpoint and in the event that ends the session', async () => {
    const db = await copy();
    const ended = (await db.query(`select details from audit_events where action = 'console.ended' and subject = $1`, [sessionId])).rows[0].details;
    const rec = (await db.query(`select sha256, chain_hash, size_bytes::int as size, duration_seconds from recordings where session_id = $1`, [sessionId])).rows[0];
    expect(ended).toMatchObject({ recordingSha256: rec.sha256, recordingChainHash: rec.chain_hash, recordingBytes: rec.size, recordingDurationSeconds: rec.duration_seconds });
    expect(rec.duration_seconds).toBeGreaterThan(1);
    const report = await verifyStoredRecording(db, sessionId, jwks);
    expect(report.summary).toMatch(/is intact: \d+ chunks, \d+ bytes, sha256 [0-9a-f]{64} as signed in checkpoint \d+ by evidence-2026-11/);
    const cli = await runCli(['verify', 'recording', sessionId, '--jwks', jwksFile], { DATABASE_URL: orig.url });
    expect(cli.code).toBe(0);
  });
});

describe('an attacker with database access', () => {
  it('changes an event: found and located', async () => {
    const db = await copy();
    const k = await seqOf(db, 'console.opened');
    await tamper(db, `update audit_events set details = jsonb_set(details, '{username}', '"mallory"') where seq = ${k}`);
    const report = await verifyAuditLog(db, jwks);
    expect(report.problem).toMatchObject({ kind: 'changed', seq: String(k) });
    expect(report.summary).toMatch(new RegExp(`^event ${k} was changed .*; intact through event ${k - 1}`));
  });

  it('deletes an event: found and located', async () => {
    const db = await copy();
    const k = await seqOf(db, 'console.ended');
    await tamper(db, `delete from audit_events where seq = ${k}`);
    expect((await verifyAuditLog(db, jwks)).problem).toMatchObject({ kind: 'removed', seq: String(k), message: `event ${k} was removed` });
  });

  it('inserts an event with a correctly computed hash, renumbering the rest: found and located', async () => {
    const db = await copy();
    // Among the concurrent writers' events, where no checkpoint sits (one would also catch it).
    const k = (await lastSeq(db)) - 10;
    const before = (await db.query(`select hash from audit_events where seq = ${k - 1}`)).rows[0].hash;
    const at = new Date();
    const forged = { seq: String(k), at, actor: 'system', action: 'console.ended', subject: sessionId, details: { reason: 'nothing happened' }, prevHash: before };
    await tamper(
      db,
      `alter table audit_events alter column seq drop identity`,
      `update audit_events set seq = seq + 1000000 where seq >= ${k}`,
      `update audit_events set seq = seq - 1000000 + 1 where seq >= 1000000`,
      `insert into audit_events (seq, at, actor, action, subject, details, prev_hash, hash) overriding system value
       values (${k}, '${at.toISOString()}', 'system', 'console.ended', '${sessionId}', '{"reason":"nothing happened"}', '${before}', '${hashEvent(forged)}')`,
    );
    const report = await verifyAuditLog(db, jwks);
    expect(report.problem).toMatchObject({ kind: 'inserted', seq: String(k) });
    expect(report.summary).toMatch(new RegExp(`^event ${k} was inserted`));
  });

  it('rewrites history and recomputes every later hash: the signed checkpoints disagree', async () => {
    const db = await copy();
    const k = await seqOf(db, 'console.opened');
    await rewriteFrom(db, k);
    const report = await verifyAuditLog(db, jwks);
    expect(report.problem?.kind).toBe('changed');
    expect(report.summary).toMatch(/history after event (\d+|\(start\)) up to event \d+ was rewritten: checkpoint \d+ signed a different hash/);
    expect(Number(report.intactThrough)).toBeLessThan(k);
  });

  it('removes the newest events and moves the head back: the last checkpoint still names them', async () => {
    const db = await copy();
    const n = await lastSeq(db);
    const h = (await db.query(`select hash from audit_events where seq = ${n - 3}`)).rows[0].hash;
    await tamper(db, `delete from audit_events where seq > ${n - 3}`, `update audit_head set seq = ${n - 3}, hash = '${h}'`);
    const report = await verifyAuditLog(db, jwks);
    expect(report.problem).toMatchObject({ kind: 'removed', seq: String(n - 2) });
    expect(report.summary).toMatch(new RegExp(`events from ${n - 2} were removed: checkpoint \\d+ signed event ${n}`));
    const cli = await runCli(['verify', 'audit', '--jwks', jwksFile], { DATABASE_URL: databaseUrl(nameOf(db)) });
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(new RegExp(`^TAMPERED: events from ${n - 2} were removed`));
  });

  it('rewrites event 3, recomputes the chain and deletes every checkpoint: UNVERIFIED, never OK', async () => {
    const db = await copy();
    await rewriteFrom(db, 3, `delete from audit_checkpoints`);
    const report = await verifyAuditLog(db, jwks, { unsignedGraceSeconds: 0 });
    expect(report.ok).toBe(false);
    expect(report.problem).toMatchObject({ kind: 'unverified', seq: '1' });
    const cli = await runCli(['verify', 'audit', '--jwks', jwksFile, '--unsigned-grace', '0'], { DATABASE_URL: databaseUrl(nameOf(db)) });
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/^UNVERIFIED: events 1…\d+ are covered by no signed checkpoint/);
  });

  it('with a checkpoint kept outside the database, finds the rewrite even when every checkpoint row is gone', async () => {
    const db = await copy();
    await rewriteFrom(db, 3, `delete from audit_checkpoints`);
    const cli = await runCli(['verify', 'audit', '--jwks', jwksFile, '--checkpoints', publishedFile], { DATABASE_URL: databaseUrl(nameOf(db)) });
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/^TAMPERED: history after event \(start\) up to event \d+ was rewritten: checkpoint external #1 signed a different hash/);
  });

  it('deletes a checkpoint in the middle: the gap in the signed numbers says so', async () => {
    const db = await copy();
    const middle = (await db.query(`select n from audit_checkpoints order by n limit 1 offset 1`)).rows[0].n;
    await db.query(`delete from audit_checkpoints where n = $1`, [middle]);
    const report = await verifyAuditLog(db, jwks);
    expect(report.problem).toMatchObject({ kind: 'checkpoint', message: `signed checkpoint number ${middle} is missing from the database: checkpoints were deleted` });
  });

  it('deletes the newest checkpoint: the published copy says so, and events left unsigned past the grace are UNVERIFIED', async () => {
    const db = await copy();
    // The broker's log line for its newest checkpoint, as an operator's log store keeps it.
    const newest = (await db.query(`select n::text, seq::text, hash, kid, jws from audit_checkpoints order by n desc limit 1`)).rows[0];
    const logFile = join(mkdtempSync(join(tmpdir(), 'sallyport-log-')), 'broker.log');
    writeFileSync(logFile, `${JSON.stringify({ level: 30, msg: 'audit checkpoint signed', checkpoint: newest })}\n`);
    await db.query(`delete from audit_checkpoints where n = $1`, [newest.n]);
    expect((await verifyAuditLog(db, jwks, { unsignedGraceSeconds: 0 })).problem?.kind).toBe('unverified');
    const cli = await runCli(['verify', 'audit', '--jwks', jwksFile, '--checkpoints', logFile], { DATABASE_URL: databaseUrl(nameOf(db)) });
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/^TAMPERED: signed checkpoint number \d+ is missing from the database/);
  });

  it('forges a checkpoint without the key: refused', async () => {
    const db = await copy();
    const other = await createSigner(await generateSigningKey('evidence-2026-11'));
    const jws = await other.sign(canonicalJson({ typ: 'sallyport.audit-checkpoint', v: 1, iss: 'x', seq: '1', hash: 'f'.repeat(64), at: new Date().toISOString() }));
    await db.query(`insert into audit_checkpoints (n, seq, hash, signed_at, kid, jws) values ((select max(n) + 1 from audit_checkpoints), 1, $1, now(), 'evidence-2026-11', $2)`, ['f'.repeat(64), jws]);
    const report = await verifyAuditLog(db, jwks);
    expect(report.problem).toMatchObject({ kind: 'checkpoint' });
    expect(report.summary).toMatch(/checkpoint \d+ does not verify/);
  });

  it('truncates or edits a recording: found, and the chunk named', async () => {
    const truncated = await copy();
    const chunks = Number((await truncated.query(`select count(*)::int as n from recording_chunks where session_id = $1`, [sessionId])).rows[0].n);
    expect(chunks).toBeGreaterThan(2);
    await truncated.query(`delete from recording_chunks where session_id = $1 and seq = $2`, [sessionId, chunks - 1]);
    const t = await verifyStoredRecording(truncated, sessionId, jwks);
    expect(t.problem).toMatchObject({ kind: 'truncated', chunk: chunks - 1 });
    expect(t.summary).toMatch(new RegExp(`stops after chunk ${chunks - 2} \\(\\d+ of \\d+ bytes signed in checkpoint \\d+ by evidence-2026-11\\): it was truncated`));

    const edited = await copy();
    // Rewritten as someone with the table would: read each chunk, change it, store it back as recorded bytes.
    for await (const c of readStoredChunks(edited, sessionId)) {
      const changed = Buffer.from(c.data.toString('utf8').replaceAll('line-2', 'line-X'));
      if (!changed.equals(c.data)) await edited.query(`update recording_chunks set data = $3, encoding = null, raw_bytes = null where session_id = $1 and seq = $2`, [sessionId, c.seq, changed]);
    }
    const e = await verifyStoredRecording(edited, sessionId, jwks);
    expect(e.problem?.kind).toBe('changed');
    expect(e.summary).toMatch(/chunk \d+ was changed \(bytes \d+…\d+\)/);
  });
});

describe('key rotation', () => {
  it('keeps old checkpoints verifiable after the broker moves to a new key', async () => {
    const db = await copy();
    const url = nameOf(db);
    const newKey = JSON.stringify(await generateSigningKey('evidence-2026-12'));
    const t = await startTestBroker(
      { SALLYPORT_CATALOG: catalog, CONSOLE_GREETING: 'x', SALLYPORT_SIGNING_KEY: newKey, SALLYPORT_SIGNING_PREVIOUS_KEYS: JSON.stringify({ keys: [publicJwk(JSON.parse(signingKey))] }) },
      { database: { name: url, url: databaseUrl(url), drop: async () => undefined } },
    );
    try {
      await t.broker.audit.append({ actor: 'system', action: 'broker.started', details: { version: 'rotated', mode: 'test', leaseSeconds: 30 } });
      await t.broker.checkpointer.checkpoint();
      const published = (await (await fetch(`${t.url}/.well-known/jwks.json`)).json()) as Jwks;
      expect(published.keys.map((k) => k.kid)).toEqual(['evidence-2026-12', 'evidence-2026-11']);
      const report = await verifyAuditLog(t.broker.db, published);
      expect(report.ok).toBe(true);
      expect(report.checkpoint?.kid).toBe('evidence-2026-12');
      // Without the old key, the old checkpoints can no longer be checked: the verifier says so.
      expect((await verifyAuditLog(t.broker.db, { keys: [published.keys[0]!] })).problem?.kind).toBe('checkpoint');
    } finally {
      await t.close();
    }
  });

  it('signs checkpoints on its own while events arrive', async () => {
    const db = await copy();
    const name = nameOf(db);
    const t = await startTestBroker(
      { SALLYPORT_CATALOG: catalog, CONSOLE_GREETING: 'x', SALLYPORT_SIGNING_KEY: signingKey, SALLYPORT_CHECKPOINT_INTERVAL: '1s' },
      { database: { name, url: databaseUrl(name), drop: async () => undefined } },
    );
    try {
      const count = async () => Number((await t.broker.db.query(`select count(*)::int as n from audit_checkpoints`)).rows[0].n);
      const before = await count();
      await t.broker.audit.append({ actor: 'system', action: 'broker.started', details: { version: 'tick', mode: 'test', leaseSeconds: 30 } });
      await expect.poll(count, { timeout: 5000 }).toBeGreaterThan(before);
      const head = (await t.broker.db.query(`select seq::text from audit_head`)).rows[0].seq;
      const latest = (await t.broker.db.query(`select seq::text from audit_checkpoints order by id desc limit 1`)).rows[0].seq;
      expect(latest).toBe(head);
      // Quiet: no events, no new checkpoints.
      const settled = await count();
      await new Promise((r) => setTimeout(r, 2500));
      expect(await count()).toBe(settled);
    } finally {
      await t.close();
    }
  });
});

describe('checkpoints kept elsewhere, over https', () => {
  it('says why and what to set when the copy is behind a certificate this machine does not trust', async () => {
    const { createServer } = await import('node:https');
    const { execFileSync } = await import('node:child_process');
    const dir = mkdtempSync(join(tmpdir(), 'sallyport-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ed25519', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    const { readFileSync } = await import('node:fs');
    const server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (_req, res) => res.end('{}'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as { port: number }).port;
      const cli = await runCli(['verify', 'audit', '--jwks', jwksFile, '--checkpoints', `https://127.0.0.1:${port}/checkpoint`], { DATABASE_URL: orig.url });
      expect(cli.code).not.toBe(0);
      expect(cli.stderr).toMatch(/its TLS certificate is not trusted here \(\w+\); give the CA that signed it with NODE_EXTRA_CA_CERTS/);
    } finally {
      server.close();
    }
  });
});
