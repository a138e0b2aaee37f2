// The headline console, for real: a Rails app's `bin/rails console` (Debian's Rails 6.1, built
// into an image offline by images/build-rails.sh) opened through the broker in the hardened
// container — read-only root, every capability dropped, no network, a non-root user — with the
// catalogue's writable directories the only places it may write, each empty for each console.
// Also: a demo image script whose package is missing says what to install.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../server/paths.js';
import { apiSession, type ApiSession } from './support/api-session.js';
import { startTestBroker, type TestBroker } from './support/broker.js';
import { connectConsole, type ConsoleConnection } from './support/console-client.js';
import { expectNoContainers } from './support/docker.js';

let t: TestBroker;
let alice: ApiSession;
const IRB_PROMPT = /irb\(main\):\d+:0> /;

/** irb's line editor asks where the cursor is (ESC [6n) and waits for the answer, as xterm.js gives it. */
function answerCursorQueries(c: ConsoleConnection): void {
  c.ws.on('message', (raw: Buffer, isBinary: boolean) => {
    if (isBinary && raw.includes('\x1b[6n')) c.type('\x1b[1;1R');
  });
}

beforeAll(async () => {
  const image = execFileSync('bash', [join(PACKAGE_ROOT, 'images', 'build-rails.sh')], { encoding: 'utf8' }).trim().split('\n').at(-1)!;
  const imageId = execFileSync('docker', ['image', 'inspect', '-f', '{{.Id}}', image], { encoding: 'utf8' }).trim();
  const catalog = join(mkdtempSync(join(tmpdir(), 'sallyport-rails-')), 'catalog.yaml');
  writeFileSync(
    catalog,
    `version: 1
targets:
  - { name: rails-console, description: a Rails console, runtime: docker, image: "${imageId}", command: [bin/rails, console],
      workdir: /app, writable: [/app/tmp, /app/log], user: "1000:1000",
      limits: { memory: 256m, cpus: 1, pids: 64, maxDuration: 1h, idleTimeout: 15m }, allow: { groups: [developers] } }
`,
  );
  t = await startTestBroker({ SALLYPORT_CATALOG: catalog });
  alice = await apiSession(t, 'alice');
}, 180_000);
afterAll(async () => {
  await t?.close();
});

describe('a Rails console', () => {
  it('runs bin/rails console in the locked-down container, writing only where the catalogue allows', { timeout: 90_000 }, async () => {
    const cookie = `sallyport=${alice.browser.cookies(t.url).get('sallyport')}`;
    const c = await connectConsole(t.url, 'rails-console', { cookie });
    answerCursorQueries(c);
    await c.waitFor(/Loading development environment \(Rails 6\.1\.\d+(\.\d+)?\)/, 60_000);
    await c.waitFor(IRB_PROMPT, 30_000);
    const ask = async (ruby: string, answer: RegExp) => {
      c.type(`${ruby}\r`);
      await c.waitFor(answer, 20_000);
    };
    await ask('puts "rails=#{Rails.version} env=#{Rails.env} root=#{Rails.root}"', /rails=6\.1\.\d+\S* env=development root=\/app/);
    // The app's own directories are read-only; tmp/ and log/ are writable, and start empty.
    await ask('begin; File.write("/app/config/pwned", "x"); puts "wrote"; rescue => e; puts "refused #{e.class}"; end', /refused Errno::EROFS/);
    await ask('File.write("/app/tmp/scratch", "ok"); puts "tmp #{File.read("/app/tmp/scratch")}"', /tmp ok/);
    await ask('puts "log #{File.exist?("/app/log/development.log")} #{File.writable?("/app/log")}"', /log (true|false) true/);
    // The hardening holds under Ruby too: no root, no network.
    await ask('puts "uid=#{Process.uid}"', /uid=1000/);
    // The first thing a Rails user types: a model with rows, in a database this console may write.
    await ask('puts "users=#{User.count}"', /users=3/);
    await ask('User.create!(name: "Edsger Dijkstra"); puts "now=#{User.count}"', /now=4/);
    await ask('begin; require "socket"; TCPSocket.new("10.0.0.1", 80); rescue => e; puts "net #{e.class}"; end', /net (Errno::ENETUNREACH|Errno::EHOSTUNREACH|SocketError)/);
    // A paste of many lines into irb: echoed line by line between irb's answers and prompts, so
    // the timeline shows every line as typed, not as masked input.
    const pasted = Array.from({ length: 40 }, (_, i) => `row${i} = "pasted-#{${i} * 2}-é"`);
    c.type(`${pasted.join('\r')}\r`);
    await c.waitFor(/pasted-78-é/, 30_000);
    await c.waitFor(IRB_PROMPT, 20_000);
    c.type('exit\r');
    const closed = await c.closed;
    expect(closed.code).toBe(1000);
    const commands = (await alice.get(`/api/sessions/${c.sessionId()}/commands`)).body.commands as Array<{ line: string; masked: boolean }>;
    const shown = commands.filter((x) => /row\d+ = "pasted-/.test(x.line) && !x.masked);
    expect(shown.length, JSON.stringify(commands.filter((x) => x.masked).slice(0, 3))).toBe(40);
    // Each command above was typed as soon as the last answer showed, often before irb's next
    // prompt (on a loaded machine, always): still every one of them is recorded as typed.
    expect(commands.filter((x) => x.masked)).toEqual([]);
    await expectNoContainers(t.broker.instanceId);
    // The next console starts from an empty tmp/.
    const again = await connectConsole(t.url, 'rails-console', { cookie });
    answerCursorQueries(again);
    await again.waitFor(IRB_PROMPT, 60_000);
    again.type('puts "scratch #{File.exist?("/app/tmp/scratch")} users=#{User.count}"\r');
    await again.waitFor(/scratch false users=3/, 20_000);
    again.type('exit\r');
    await again.closed;
  });

  it('the demo image scripts say what to install when their package is missing', () => {
    // A PATH with every command of this machine except php and ruby.
    const bin = mkdtempSync(join(tmpdir(), 'sallyport-nophp-'));
    for (const dir of ['/usr/bin', '/bin']) {
      for (const f of readdirSync(dir)) {
        if (/^(php|ruby|rails|bundle)/.test(f)) continue;
        try {
          symlinkSync(join(dir, f), join(bin, f));
        } catch {
          // already linked from the other directory
        }
      }
    }
    for (const [script, hint] of [
      ['build-php.sh', /apt-get install php-cli/],
      ['build-rails.sh', /apt-get install ruby-rails ruby-sqlite3/],
    ] as const) {
      const r = spawnSync('bash', [join(PACKAGE_ROOT, 'images', script), 'sallyport-test/never-built'], { env: { PATH: bin }, encoding: 'utf8' });
      expect(r.status, script).toBe(1);
      expect(r.stderr).toMatch(hint);
    }
  });
});
