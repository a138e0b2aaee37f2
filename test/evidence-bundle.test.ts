// The evidence bundle, end to end: carol downloads one for alice's console session (audited),
// the system `tar` reads it, and `sallyport verify recording BUNDLE` checks it offline — with
// no database in its environment — and finds a changed recording or a changed event; also with
// the CLI from a packed tarball installed in a clean directory; a bundle far larger than the
// memory its verification uses.
import { execFileSync, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readTar, tarStream } from '../server/bundle/index.js';
import { verifyBundle } from '../server/verify/index.js';
import { apiSession, type ApiSession } from './support/api-session.js';
import { copyCheckout } from './support/checkout.js';
import { startTestBroker, type TestBroker } from './support/broker.js';
import { connectConsole, PROMPT } from './support/console-client.js';
import { writeConsoleCatalog } from './support/console-catalog.js';
import { runCli } from './support/process.js';
import { launchChromium } from './support/chromium.js';

let t: TestBroker;
let carol: ApiSession, bob: ApiSession;
let sessionId: string;
const dir = mkdtempSync(join(tmpdir(), 'sallyport-bundle-'));

async function rewrite(files: Map<string, Buffer>, name: string): Promise<string> {
  const out: Buffer[] = [];
  for await (const b of tarStream([...files].map(([n, body]) => ({ name: n, size: body.length, body })))) out.push(b);
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat(out));
  return path;
}

/** The bundle as carol downloaded it in the first test, or (when a test runs alone) downloaded now. */
async function savedBundle(): Promise<Buffer> {
  const saved = join(dir, 'bundle.tar');
  if (existsSync(saved)) return readFileSync(saved);
  return Buffer.from(await (await fetch(`${t.url}/api/sessions/${sessionId}/bundle`, { headers: { cookie: `sallyport=${carol.browser.cookies(t.url).get('sallyport')}` } })).arrayBuffer());
}

beforeAll(async () => {
  t = await startTestBroker({ SALLYPORT_CATALOG: writeConsoleCatalog(inject('consoleImage')), CONSOLE_GREETING: 'x' });
  const alice = await apiSession(t, 'alice');
  [carol, bob] = [await apiSession(t, 'carol'), await apiSession(t, 'bob')];
  const c = await connectConsole(t.url, 'shell', { cookie: `sallyport=${alice.browser.cookies(t.url).get('sallyport')}` });
  await c.waitFor(PROMPT);
  sessionId = c.sessionId();
  c.type('echo "evidence-""$((7*6))"; exit\n');
  await c.closed;
  for (let i = 0; i < 50 && !(await t.broker.db.query(`select 1 from audit_checkpoints where recording_session = $1`, [sessionId])).rowCount; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
});
afterAll(async () => {
  await t?.close();
});

describe('evidence bundle', () => {
  it('downloads as one archive, audited, and verifies offline; tampering is found', async () => {
    const res = await fetch(`${t.url}/api/sessions/${sessionId}/bundle`, { headers: { cookie: `sallyport=${carol.browser.cookies(t.url).get('sallyport')}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toContain(`sallyport-evidence-${sessionId}.tar`);
    const archive = Buffer.from(await res.arrayBuffer());
    const bundle = join(dir, 'bundle.tar');
    writeFileSync(bundle, archive);
    expect(execFileSync('tar', ['-tf', bundle], { encoding: 'utf8' }).trim().split('\n').sort()).toEqual(
      ['README.txt', 'approval.json', 'events.json', 'jwks.json', 'player.html', 'recording-checkpoint.jws', 'recording.cast'].sort(),
    );
    const files = await readTar(archive);
    expect(files.get('recording.cast')!.toString()).toContain('evidence-42');
    expect(files.get('player.html')!.toString()).toMatch(/<script>!function/);
    const downloaded = (await t.broker.audit.list({ action: 'evidence.downloaded' })).find((e) => e.subject === sessionId);
    expect(downloaded?.details).toEqual({ by: 'carol', username: 'alice', target: 'shell' });
    expect((await bob.get(`/api/sessions/${sessionId}/bundle`)).status).toBe(404);

    // Offline: no DATABASE_URL at all. Against its own keys only when the auditor says so.
    const ok = await runCli(['verify', 'recording', bundle, '--trust-bundle-keys'], {});
    expect(ok.stdout).toMatch(
      new RegExp(`^OK: bundle for session ${sessionId} is intact against the keys inside the bundle: recording \\d+ bytes, sha256 [0-9a-f]{64} signed by test-key \\(thumbprint [A-Za-z0-9_-]{43}\\); \\d+ session events chained to checkpoint`),
    );
    expect(ok.code).toBe(0);

    const castChanged = new Map(files);
    castChanged.set('recording.cast', Buffer.from(files.get('recording.cast')!.toString().replace('evidence-42', 'evidence-41')));
    const r1 = await runCli(['verify', 'recording', await rewrite(castChanged, 'cast.tar')], {});
    expect(r1.code).toBe(1);
    expect(r1.stderr).toMatch(/^TAMPERED: recording .*differs from the recording signed by test-key/);

    const eventChanged = new Map(files);
    eventChanged.set('events.json', Buffer.from(files.get('events.json')!.toString().replace('"username":"alice"', '"username":"mallory"')));
    const r2 = await runCli(['verify', 'recording', await rewrite(eventChanged, 'events.tar')], {});
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/^TAMPERED: audit events: event \d+ was changed/);

    // A name twice: one reader might check the first copy and another the second. Refused.
    const twice: Buffer[] = [];
    const entries = [...files].map(([n, body]) => ({ name: n, size: body.length, body }));
    const forged = Buffer.from(files.get('recording.cast')!.toString().replace('evidence-42', 'evidence-43'));
    for await (const b of tarStream([...entries, { name: 'recording.cast', size: forged.length, body: forged }])) twice.push(b);
    writeFileSync(join(dir, 'twice.tar'), Buffer.concat(twice));
    const r3 = await runCli(['verify', 'recording', join(dir, 'twice.tar')], {});
    expect(r3.code).toBe(1);
    expect(r3.stderr).toMatch(/^TAMPERED: not a readable bundle: the archive has recording.cast twice/);

    // A bundle re-signed with another key fails against the broker's published JWKS.
    const published = join(dir, 'jwks.json');
    writeFileSync(published, await (await fetch(`${t.url}/.well-known/jwks.json`)).text());
    expect((await runCli(['verify', 'recording', bundle, '--jwks', published], {})).code).toBe(0);
    expect(readFileSync(published, 'utf8')).toContain('"kid":"test-key"');
  });

  it('verifies a bundle much larger than the memory it uses: the recording is hashed as it streams', async () => {
    const files = await readTar(await savedBundle());
    const MiB = 1024 * 1024;
    // Twice the bound below: held whole, it could not pass; small enough that writing, parsing
    // and hashing it stays quick on a busy two-core machine.
    const size = 192 * MiB;
    async function* recording() {
      const block = Buffer.alloc(MiB, 'x');
      for (let i = 0; i < size / MiB; i++) yield block;
    }
    const big = join(dir, 'big.tar');
    const out = createWriteStream(big);
    const small = [...files].filter(([n]) => n !== 'recording.cast').map(([n, body]) => ({ name: n, size: body.length, body }));
    for await (const b of tarStream([{ name: 'recording.cast', size, body: recording() }, ...small])) if (!out.write(b)) await once(out, 'drain');
    await new Promise((r) => out.end(r));
    globalThis.gc?.();
    const base = process.memoryUsage().arrayBuffers;
    let peak = base;
    // Live buffers, not garbage the collector has not reached yet: collect, then look (a full
    // collection of this process's heap, the broker's too, is not free: four times a second).
    const sampler = setInterval(() => {
      globalThis.gc?.();
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    }, 250);
    const report = await verifyBundle(createReadStream(big));
    clearInterval(sampler);
    rmSync(big);
    // Read whole, the file alone would be 192 MiB; streamed, a few read buffers at a time. The
    // bound leaves room for the broker running in this same process (its pool, its jobs).
    expect(report.summary).toMatch(/differs from the recording signed by test-key .*201326592 bytes|201326592 bytes\) differs/);
    expect(report.ok).toBe(false);
    console.log(`verifying a 192 MiB bundle held at most ${((peak - base) / MiB).toFixed(1)} MiB of buffers`);
    expect((peak - base) / MiB, 'MiB of buffers held while verifying').toBeLessThan(96);
  }, 300_000);

  it('verifies with the CLI from a packed tarball, installed in a clean directory, as an auditor elsewhere would', async () => {
    // A clean copy of the checkout (the build writes its dist/ there, not under the running suite).
    const src = join(dir, 'src');
    copyCheckout(src);
    const npm = (args: string[], cwd: string) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_prefer_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false' } });
    const tarball = npm(['pack', '--silent', '--pack-destination', dir], src).trim().split('\n').at(-1)!;
    const listed = execFileSync('tar', ['-tzf', join(dir, tarball)], { encoding: 'utf8' });
    expect(listed).toContain('package/dist/server/cli.js');
    expect(listed).not.toMatch(/package\/server\/.*\.ts\n/); // the sources stay home
    const auditor = join(dir, 'auditor');
    mkdirSync(auditor);
    writeFileSync(join(auditor, 'package.json'), '{"name":"auditor","private":true}\n');
    npm(['install', '--omit=dev', join(dir, tarball)], auditor);
    const cli = join(auditor, 'node_modules', '.bin', 'sallyport');
    const run = (args: string[]) => spawnSync(cli, args, { cwd: auditor, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: process.env.HOME } });
    expect(run(['--version']).stdout).toMatch(/^sallyport \d+\.\d+\.\d+\n$/);
    const ok = run(['verify', 'recording', join(dir, 'bundle.tar'), '--trust-bundle-keys']);
    expect(ok.stdout).toMatch(new RegExp(`^OK: bundle for session ${sessionId} is intact`));
    expect(ok.status).toBe(0);
    // Dev mode is not in an installed package: it says what is missing instead of a stack trace.
    const dev = run(['dev']);
    expect(dev.status).not.toBe(0);
    expect(dev.stderr).toMatch(/^sallyport: sallyport dev needs the development dependencies/);
  }, 300_000);

  it("plays from file:// in Chromium only what it verified: intact says verified with the key, tampered says TAMPERED", async () => {
    // The bundle as carol downloaded it in the first test (or now, when this one runs alone: a
    // second download waits for the checkpoint covering the first one's audit event), unpacked.
    const files = await readTar(await savedBundle());
    expect([...files.keys()]).toContain('recording.cast');
    const unpacked = mkdtempSync(join(tmpdir(), 'sallyport-player-'));
    for (const [n, b] of files) writeFileSync(join(unpacked, n), b);
    writeFileSync(join(unpacked, 'tampered.cast'), files.get('recording.cast')!.toString().replace('evidence-42', 'evidence-41'));
    // A page whose own copy of the audit excerpt was edited.
    writeFileSync(join(unpacked, 'edited-player.html'), files.get('player.html')!.toString().replace('"username":"alice"', '"username":"mallory"'));
    const chromium = await launchChromium();
    try {
      const page = await chromium.newPage();
      const errors: string[] = [];
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      await page.goto(`file://${join(unpacked, 'player.html')}`);
      // Before any file: the checkpoints and the chain check out, and who, target and approval show.
      await page.waitForFunction(() => /audit events check out/.test(document.querySelector('#verdict')?.textContent ?? ''));
      const facts = await page.textContent('#facts');
      expect(facts).toMatch(/Whoalice/);
      expect(facts).toMatch(/Targetshell/);
      expect(facts).toMatch(/Approvalnone needed/);
      expect(facts).toMatch(/Signed bytest-key \(thumbprint [A-Za-z0-9_-]{43}\)/);

      await page.setInputFiles('#file', join(unpacked, 'recording.cast'));
      await page.waitForSelector('#verdict[data-state="verified"]');
      expect(await page.textContent('#verdict')).toMatch(/^Verified against the key inside this bundle: test-key \(thumbprint [A-Za-z0-9_-]{43}\), chain intact \(\d+ session events to a signed checkpoint\), recording sha256 [0-9a-f]{64}/);
      // It plays, and pauses and seeks: the end shows the command's output, the start does not.
      await page.selectOption('#speed', '16');
      await page.waitForFunction(() => /evidence-42/.test((document.querySelector('#term .xterm-rows') as HTMLElement)?.innerText ?? ''), null, { timeout: 20_000 });
      await page.waitForFunction(() => document.querySelector('#play')?.textContent === 'Play');
      await page.$eval('#seek', (el: HTMLInputElement) => {
        el.value = '0';
        el.dispatchEvent(new Event('input'));
      });
      expect(await page.$eval('#term .xterm-rows', (el) => (el as HTMLElement).innerText)).not.toMatch(/evidence-42/);

      // A changed recording: TAMPERED, and nothing is played.
      await page.setInputFiles('#file', join(unpacked, 'tampered.cast'));
      await page.waitForSelector('#verdict[data-state="tampered"]');
      expect(await page.textContent('#verdict')).toMatch(/^TAMPERED: this recording\.cast is not the one signed/);
      expect(await page.$('#term .xterm-rows')).toBeNull();

      // A page whose audit excerpt was edited says so before any file is chosen.
      await page.goto(`file://${join(unpacked, 'edited-player.html')}`);
      await page.waitForSelector('#verdict[data-state="tampered"]');
      expect(await page.textContent('#verdict')).toMatch(/^TAMPERED: event \d+ \(console\.opened\) was changed/);
      expect(errors.filter((e) => !/TAMPERED|was changed/.test(e))).toEqual([]);

      // On a phone (390 px wide): verified, played, and nothing wider than the screen.
      const phone = await (await chromium.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true })).newPage();
      const phoneErrors: string[] = [];
      phone.on('console', (m) => m.type() === 'error' && phoneErrors.push(m.text()));
      phone.on('pageerror', (e) => phoneErrors.push(e.message));
      await phone.goto(`file://${join(unpacked, 'player.html')}`);
      await phone.setInputFiles('#file', join(unpacked, 'recording.cast'));
      await phone.waitForSelector('#verdict[data-state="verified"]');
      await phone.selectOption('#speed', '16');
      // Played to its end (the short recording is over within seconds at this speed).
      await phone.waitForSelector('#term .xterm-screen');
      await phone.waitForFunction(() => document.querySelector('#play')?.textContent === 'Play', null, { timeout: 20_000 });
      expect(phoneErrors).toEqual([]);
      const wide = await phone.evaluate(() => [document.body, ...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > 391 || (e as HTMLElement).scrollWidth > 391).map((e) => `${e.tagName}.${e.className}#${e.id}:${Math.round(e.getBoundingClientRect().right)}/${(e as HTMLElement).scrollWidth}`).slice(0, 12));
      expect(await phone.evaluate(() => document.documentElement.scrollWidth), wide.join(' ')).toBeLessThanOrEqual(390);
      expect(await phone.evaluate(() => (document.querySelector('#term .xterm-screen') as HTMLElement).getBoundingClientRect().right)).toBeLessThanOrEqual(390);
    } finally {
      await chromium.close();
    }
  }, 60_000);
});
