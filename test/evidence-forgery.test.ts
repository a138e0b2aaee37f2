// The evidence bundle against whoever holds one and wants it to say something else: the second
// security review's attacks, replayed on a bundle a real broker made for an approved console.
// Rewriting events before a hidden one, hiding one of the session's own events, naming another
// approver in approval.json, a second recording.cast that `tar xf` would extract, a bundle
// fabricated with a key made under the broker's kid, and a reason holding "<!--" in the player.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { canonicalJson, contentHash, hashEvent, linkHash, subjectCommitment } from '../server/audit/index.js';
import { playerHtml, readTar, tarStream, type BundleEvents } from '../server/bundle/index.js';
import { createSigner, generateSigningKey, keyThumbprint } from '../server/signing/index.js';
import { apiSession, type ApiSession } from './support/api-session.js';
import { startTestBroker, type TestBroker } from './support/broker.js';
import { launchChromium } from './support/chromium.js';
import { connectConsole, PROMPT } from './support/console-client.js';
import { writeConsoleCatalog } from './support/console-catalog.js';
import { runCli } from './support/process.js';

const REASON = 'INC-4711 <!-- check --> </script> & more';
let t: TestBroker;
let sessionId: string;
let grantId: string;
let files: Map<string, Buffer>;
let published: string;
const dir = mkdtempSync(join(tmpdir(), 'sallyport-forgery-'));

type Ev = BundleEvents['events'][number] & { at?: string; actor?: string; action?: string; subject?: string | null; details?: Record<string, unknown> };
const eventsOf = (f: Map<string, Buffer>) => JSON.parse(f.get('events.json')!.toString('utf8')) as BundleEvents;

async function write(name: string, f: Map<string, Buffer>): Promise<string> {
  const out: Buffer[] = [];
  for await (const b of tarStream([...f].map(([n, body]) => ({ name: n, size: body.length, body })))) out.push(b);
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat(out));
  return path;
}
const withEvents = (ex: BundleEvents) => new Map(files).set('events.json', Buffer.from(canonicalJson(ex)));
const verify = (path: string, ...args: string[]) => runCli(['verify', 'recording', path, ...args], {});
/** What a holder recomputes for a shown event after changing it (the rule is public). */
const rehash = (e: Ev) => hashEvent({ v: e.v, seq: e.seq, at: new Date(e.at!), actor: e.actor!, action: e.action!, subject: e.subject ?? null, details: e.details, prevHash: e.prevHash });

beforeAll(async () => {
  t = await startTestBroker({ SALLYPORT_CATALOG: writeConsoleCatalog(inject('consoleImage')), CONSOLE_GREETING: 'x' });
  const alice: ApiSession = await apiSession(t, 'alice');
  const bob = await apiSession(t, 'bob');
  const carol = await apiSession(t, 'carol');
  const asked = await alice.post('/api/access-requests', { target: 'gated', reason: REASON, durationSeconds: 600 });
  expect(asked.status).toBe(201);
  grantId = asked.body.id;
  await bob.relogin();
  expect((await bob.post(`/api/access-requests/${grantId}/decision`, { decision: 'approve', comment: 'ok' })).status).toBe(200);
  const c = await connectConsole(t.url, 'gated', { cookie: `sallyport=${alice.browser.cookies(t.url).get('sallyport')}` });
  await c.waitFor(PROMPT);
  sessionId = c.sessionId();
  // Someone else's events while the console runs: they ride in the bundle hidden.
  await apiSession(t, 'dave');
  c.type('echo "forgery-""$((7*6))"; exit\n');
  await c.closed;
  for (let i = 0; i < 100 && !(await t.broker.db.query(`select 1 from audit_checkpoints where recording_session = $1`, [sessionId])).rowCount; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const res = await fetch(`${t.url}/api/sessions/${sessionId}/bundle`, { headers: { cookie: `sallyport=${carol.browser.cookies(t.url).get('sallyport')}` } });
  expect(res.status).toBe(200);
  files = await readTar(Buffer.from(await res.arrayBuffer()));
  published = join(dir, 'jwks.json');
  writeFileSync(published, await (await fetch(`${t.url}/.well-known/jwks.json`)).text());
}, 120_000);
afterAll(async () => {
  await t?.close();
});

describe('a bundle holder', () => {
  it('gets OK only against a trust anchor; the approval shown is read from the chained events', async () => {
    const path = await write('intact.tar', files);
    const anchored = await verify(path, '--jwks', published);
    expect(anchored.code).toBe(0);
    expect(anchored.stdout).toMatch(new RegExp(`^OK: bundle for session ${sessionId} is intact: .*signed by test-key \\(thumbprint [A-Za-z0-9_-]{43}\\)`));
    expect(anchored.stdout).toContain(`approval from the chained events: alice asked for gated ("${REASON}"), approved by approvers: bob approved ("ok")`);
    // Without keys from elsewhere, the bundle only vouches for itself.
    const alone = await verify(path);
    expect(alone.code).toBe(1);
    expect(alone.stderr).toMatch(/^UNTRUSTED: verified only against keys inside the bundle \(thumbprint [A-Za-z0-9_-]{43}\)/);
    const vouched = await verify(path, '--trust-bundle-keys');
    expect(vouched.code).toBe(0);
    expect(vouched.stdout).toMatch(/^OK: bundle for session .* is intact against the keys inside the bundle: .*thumbprint/);
  });

  it('rewrites who opened the console and recomputes the hashes up to a hidden event: TAMPERED', async () => {
    const ex = eventsOf(files);
    const events = ex.events as Ev[];
    const opened = events.findIndex((e) => e.action === 'console.opened');
    const hidden = events.findIndex((e, i) => i > opened && 'redacted' in e);
    expect(opened, 'the bundle shows console.opened').toBeGreaterThanOrEqual(0);
    expect(hidden, 'another user event rides hidden after it').toBeGreaterThan(opened);
    events[opened]!.details = { ...events[opened]!.details, username: 'mallory', clientAddress: '10.66.6.6' };
    // The old attack: every shown event recomputed, the hidden one's hash taken as it was.
    let prev = ex.events[opened - 1]?.hash ?? ex.from.hash;
    for (let i = opened; i <= hidden; i++) {
      const e = events[i]!;
      e.prevHash = prev;
      if (!('redacted' in e)) e.hash = rehash(e);
      prev = e.hash;
    }
    const kept = await verify(await write('across-hidden.tar', withEvents(ex)), '--jwks', published);
    expect(kept.code).toBe(1);
    expect(kept.stderr).toMatch(new RegExp(`^TAMPERED: audit events: event ${events[hidden]!.seq} was changed`));
    // Recomputing the hidden event's link as well only moves the break to the signed checkpoint.
    const h = events[hidden]! as Ev & { subject: string | null; content: string };
    h.hash = linkHash({ seq: h.seq, prevHash: h.prevHash, subjectCommitment: h.subject, contentHash: h.content });
    prev = h.hash;
    for (let i = hidden + 1; i < events.length; i++) {
      const e = events[i]!;
      e.prevHash = prev;
      e.hash = 'redacted' in e ? linkHash({ seq: e.seq, prevHash: e.prevHash, subjectCommitment: (e as { subject: string | null }).subject, contentHash: (e as { content: string }).content }) : rehash(e);
      prev = e.hash;
    }
    const moved = await verify(await write('across-all.tar', withEvents(ex)), '--jwks', published);
    expect(moved.code).toBe(1);
    expect(moved.stderr).toMatch(/^TAMPERED: audit events: .*(does not end at its signed checkpoint|checkpoint .* signed a different hash)/);
  });

  it("hides the approver's decision among other sessions' events: TAMPERED", async () => {
    const ex = eventsOf(files);
    const i = ex.events.findIndex((e) => 'action' in e && e.action === 'access.decision');
    expect(i).toBeGreaterThanOrEqual(0);
    const e = ex.events[i] as Ev;
    // Shown as hidden, with its true commitment and content hash, so its link still recomputes.
    const as = { v: 2 as const, seq: e.seq, prevHash: e.prevHash, hash: e.hash, redacted: true as const, subject: subjectCommitment(e.subject ?? null), content: contentHash({ at: new Date(e.at!), actor: e.actor!, action: e.action!, subject: e.subject ?? null, details: e.details }) };
    ex.events[i] = as;
    const r = await verify(await write('hidden-own.tar', withEvents(ex)), '--jwks', published);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^TAMPERED: audit events: event ${e.seq} belongs to this session or its grant but is hidden`));
    // Claiming it is someone else's changes its link.
    ex.events[i] = { ...as, subject: subjectCommitment('someone-else') };
    const r2 = await verify(await write('hidden-other.tar', withEvents(ex)), '--jwks', published);
    expect(r2.stderr).toMatch(new RegExp(`^TAMPERED: audit events: event ${e.seq} was changed`));
  });

  it('names carol as approver in approval.json: TAMPERED, the chained events say bob', async () => {
    const approval = JSON.parse(files.get('approval.json')!.toString());
    approval.decisions[0].approver = 'carol';
    const r = await verify(await write('approval.tar', new Map(files).set('approval.json', Buffer.from(JSON.stringify(approval)))), '--jwks', published);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^TAMPERED: approval\.json says decision 1 was carol approve, the chained events say bob approve/);
  });

  it('adds a second recording.cast that tar would extract (./ name, symlink, hardlink): refused', async () => {
    const forged = Buffer.from(files.get('recording.cast')!.toString().replace('forgery-42', 'forgery-41'));
    const craft = async (name: string, extra: (p: ReturnType<typeof pack>) => void) => {
      const p = pack();
      for (const [n, body] of files) p.entry({ name: n, size: body.length }, body);
      extra(p);
      p.finalize();
      const parts: Buffer[] = [];
      for await (const b of p) parts.push(b as Buffer);
      writeFileSync(join(dir, name), Buffer.concat(parts));
      return join(dir, name);
    };
    const dotted = await craft('dotted.tar', (p) => p.entry({ name: './recording.cast', size: forged.length }, forged));
    // What `tar xf` does with it: the forged copy is the one left on disk.
    const out = mkdtempSync(join(tmpdir(), 'sallyport-xf-'));
    execFileSync('tar', ['-xf', dotted, '-C', out]);
    expect(execFileSync('cat', [join(out, 'recording.cast')], { encoding: 'utf8' })).toContain('forgery-41');
    const r1 = await verify(dotted, '--jwks', published);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toMatch(/^TAMPERED: not a readable bundle: the archive holds "\.\/recording\.cast", which is not a bundle file/);
    const sym = await craft('symlink.tar', (p) => p.entry({ name: 'recording.cast', type: 'symlink', linkname: '/tmp/forged.cast' }));
    const r2 = await verify(sym, '--jwks', published);
    expect(r2.stderr).toMatch(/^TAMPERED: not a readable bundle: the archive holds a symlink named "recording\.cast"/);
    const hard = await craft('hardlink.tar', (p) => {
      p.entry({ name: 'forged.cast', size: forged.length }, forged);
      p.entry({ name: 'recording.cast', type: 'link', linkname: 'forged.cast' });
    });
    const r3 = await verify(hard, '--jwks', published);
    expect(r3.code).toBe(1);
    expect(r3.stderr).toMatch(/^TAMPERED: not a readable bundle: the archive holds "forged\.cast"/);
  });

  it("fabricates a bundle signed with a key made under the broker's kid: UNTRUSTED alone, TAMPERED against the published keys", async () => {
    const key = await generateSigningKey('test-key');
    const signer = await createSigner(key);
    const reSign = async (jws: string) => {
      const payload = Buffer.from(jws.split('.')[1]!, 'base64url').toString('utf8');
      return signer.sign(payload);
    };
    const ex = eventsOf(files);
    ex.checkpoint = { ...ex.checkpoint, jws: await reSign(ex.checkpoint.jws) };
    const fake = new Map(files)
      .set('events.json', Buffer.from(canonicalJson(ex)))
      .set('recording-checkpoint.jws', Buffer.from(await reSign(files.get('recording-checkpoint.jws')!.toString().trim())))
      .set('jwks.json', Buffer.from(JSON.stringify(signer.jwks())));
    const path = await write('fabricated.tar', fake);
    const alone = await verify(path);
    expect(alone.code).toBe(1);
    expect(alone.stderr).toMatch(/^UNTRUSTED: verified only against keys inside the bundle \(thumbprint [A-Za-z0-9_-]{43}\)/);
    // The thumbprint printed is the fabricated key's, not the broker's.
    const real = JSON.parse(files.get('jwks.json')!.toString()).keys[0];
    expect(alone.stderr).toContain(await keyThumbprint(signer.jwks().keys[0]!));
    expect(alone.stderr).not.toContain(await keyThumbprint(real));
    const anchored = await verify(path, '--jwks', published);
    expect(anchored.code).toBe(1);
    expect(anchored.stderr).toMatch(/^TAMPERED: recording-checkpoint\.jws: signature does not verify/);
  });

  it('plays a bundle whose texts hold "<!--" and "</script>", showing the approval from the chain; a forged approval.json is TAMPERED', async () => {
    const unpacked = mkdtempSync(join(tmpdir(), 'sallyport-forgery-player-'));
    for (const [n, b] of files) writeFileSync(join(unpacked, n), b);
    const approval = JSON.parse(files.get('approval.json')!.toString());
    const forgedApproval = { ...approval, decisions: [{ ...approval.decisions[0], approver: 'carol' }] };
    writeFileSync(
      join(unpacked, 'forged-player.html'),
      playerHtml({ sessionId, recordingJws: files.get('recording-checkpoint.jws')!.toString(), eventsJson: files.get('events.json')!.toString(), jwks: JSON.parse(files.get('jwks.json')!.toString()), approval: forgedApproval }),
    );
    const chromium = await launchChromium();
    try {
      const page = await chromium.newPage();
      await page.goto(`file://${join(unpacked, 'player.html')}`);
      await page.waitForFunction(() => /audit events check out/.test(document.querySelector('#verdict')?.textContent ?? ''), null, { timeout: 15_000 });
      expect(await page.textContent('#facts')).toContain(`Approvalalice asked: "${REASON}"; bob approve ("ok")`);
      await page.setInputFiles('#file', join(unpacked, 'recording.cast'));
      await page.waitForSelector('#verdict[data-state="verified"]');
      expect(await page.textContent('#verdict')).toMatch(/^Verified against the key inside this bundle: test-key \(thumbprint [A-Za-z0-9_-]{43}\)/);
      await page.goto(`file://${join(unpacked, 'forged-player.html')}`);
      await page.waitForSelector('#verdict[data-state="tampered"]');
      expect(await page.textContent('#verdict')).toMatch(/^TAMPERED: approval\.json does not say what the chained access events say/);
    } finally {
      await chromium.close();
    }
  }, 60_000);
});
