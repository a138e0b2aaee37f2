// Checkpoints leave the database as they are made: with SALLYPORT_WEBHOOK_CHECKPOINTS each one is
// posted to the webhook (from the outbox written in the checkpoint's own transaction), and the
// copies a receiver kept are what `sallyport verify audit --checkpoints` checks the database against.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, startTestBroker, type TestBroker } from './support/broker.js';
import { runCli } from './support/process.js';

let t: TestBroker;
let receiver: Server;
const bodies: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let data = '';
    req.on('data', (d) => (data += d));
    req.on('end', () => {
      bodies.push(JSON.parse(data) as Record<string, unknown>);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  t = await startTestBroker({
    SALLYPORT_WEBHOOK_URL: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
    SALLYPORT_WEBHOOK_CHECKPOINTS: 'true',
    SALLYPORT_CHECKPOINT_INTERVAL: '1s',
  });
});
afterAll(async () => {
  await t?.close();
  receiver?.close();
});

describe('checkpoint copies', () => {
  it('reach the webhook as they are signed, and verify the database against them', async () => {
    await t.login(new Browser(), 'alice'); // some audit events to sign
    await expect.poll(() => bodies.filter((b) => b.event === 'audit.checkpoint').length, { timeout: 15_000 }).toBeGreaterThan(0);
    const copies = bodies.filter((b) => b.event === 'audit.checkpoint');
    const stored = (await t.broker.db.query(`select n::text, jws from audit_checkpoints order by n`)).rows;
    for (const c of copies) expect(stored).toContainEqual({ n: c.n, jws: c.jws });
    const file = join(mkdtempSync(join(tmpdir(), 'sallyport-copies-')), 'webhook.jsonl');
    writeFileSync(file, copies.map((c) => JSON.stringify(c)).join('\n'));
    const env = { DATABASE_URL: t.db.url, SALLYPORT_SIGNING_KEY: JSON.stringify(t.config.signing.key) };
    const ok = await runCli(['verify', 'audit', '--checkpoints', file], env);
    expect(ok.stdout + ok.stderr).toMatch(/^OK: intact through event \d+/);
    expect(ok.code).toBe(0);
    // Every checkpoint row gone: the copies still make the deletion visible.
    await t.broker.db.query(`delete from audit_checkpoints`);
    const gone = await runCli(['verify', 'audit', '--checkpoints', file], env);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^TAMPERED: signed checkpoint number \d+ is missing from the database/);
  });
});
