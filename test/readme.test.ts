// The README's quick start, tried as a new user would: a clean copy of the repository, the
// exact dev command from the README, a login as alice with the password it prints. Also ties
// the README's test command to what CI runs.
import { spawn, execFileSync } from 'node:child_process';
import { knownHostsFile, sshClient } from './support/ssh-client.js';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../server/dev/index.js';
import { PACKAGE_ROOT } from '../server/paths.js';
import { Browser } from './support/http-client.js';
import { waitFor } from './support/process.js';

function quickStart(): { dev: string; test: string } {
  const readme = readFileSync(join(PACKAGE_ROOT, 'README.md'), 'utf8');
  const section = readme.split('## Quick start')[1]!;
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
  const commands = block
    .trim()
    .split('\n')
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter(Boolean);
  expect(commands).toHaveLength(2);
  return { dev: commands[0]!, test: commands[1]! };
}

describe('README quick start', () => {
  const work = mkdtempSync(join(tmpdir(), 'sallyport-readme-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('CI runs exactly the README test command', () => {
    const ci = readFileSync(join(PACKAGE_ROOT, '.ci', 'run'), 'utf8');
    expect(ci.split('\n').map((l) => l.trim())).toContain(quickStart().test);
  });

  it('starts dev mode on a clean copy, prints the demo users, and lets alice log in', async () => {
    const { dev } = quickStart();
    // A clean copy: exactly the files git would check out, nothing built, no node_modules.
    const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: PACKAGE_ROOT })
      .toString()
      .split('\0')
      .filter(Boolean);
    const copy = join(work, 'sallyport');
    for (const f of files) {
      mkdirSync(dirname(join(copy, f)), { recursive: true });
      try {
        cpSync(join(PACKAGE_ROOT, f), join(copy, f));
      } catch {
        // a file deleted in the work tree but still in the index
      }
    }
    const port = await freePort();
    const child = spawn('sh', ['-c', dev], {
      cwd: copy,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), npm_config_prefer_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    try {
      const password = await waitFor(
        "alice's password in the banner",
        async () => /^\s+alice\s+(\S+)\s+developers$/m.exec(out)?.[1],
        240_000,
      );
      expect(out).toMatch(/DEV MODE/);
      expect(out).toMatch(/^\s+bob\s+\S+\s+approvers$/m);
      expect(out).toMatch(/^\s+carol\s+\S+\s+auditors$/m);
      expect(out).toMatch(/^\s+dave\s+\S+\s+admins$/m);
      // Nothing that reads like a broken install: no engine mismatch, no library warning.
      expect(out).not.toMatch(/EBADENGINE|WARNING|DeprecationWarning/);
      const url = `http://127.0.0.1:${port}`;
      expect((await fetch(`${url}/readyz`)).status).toBe(200);

      const browser = new Browser();
      const form = await browser.follow(`${url}/`);
      expect(form.hop.body).toMatch(/name="username"/);
      expect(form.hop.body).toMatch(/type="password"/);
      const posted = await browser.request(form.hop.url, { form: { username: 'alice', password } });
      const landed = await browser.follow(new URL(posted.headers.get('location')!, posted.url).href);
      expect(landed.hop.url).toBe(`${url}/`);
      expect(landed.hop.body).toContain('<title>Sallyport</title>');
      const me = JSON.parse((await browser.request(`${url}/api/me`, { headers: { accept: 'application/json' } })).body);
      expect(me.user).toMatchObject({ username: 'alice', roles: ['developer'] });
      expect(me.targets.map((t: { name: string }) => t.name)).toEqual(['php-console', 'rails-console', 'shell', 'billing-prod']);

      // The banner's ssh line works with the stock client: after alice confirms its link, a
      // user name that names no target lists hers.
      const [, sshPort] = /ssh -t -p (\d+) shell@127\.0\.0\.1/.exec(out)!;
      const hostKey = await (await fetch(`${url}/.well-known/sallyport/ssh-host-key.pub`)).text();
      const ssh = sshClient(Number(sshPort), 'help', knownHostsFile(Number(sshPort), hostKey.trim()), ['-t']);
      const [, token] = await ssh.waitFor(/\/ssh\/([A-Za-z0-9_-]{32})/, 20_000);
      const confirmed = await browser.request(`${url}/api/ssh-logins/${token}/confirm`, { method: 'POST', json: {}, headers: { origin: url, 'x-csrf-token': me.csrfToken, accept: 'application/json' } });
      expect(confirmed.status).toBe(200);
      await ssh.waitFor(/Targets you may open:[\s\S]*shell/);
      expect(await ssh.exited).toBe(2);
    } finally {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
      await new Promise((r) => child.once('close', r));
    }
  }, 300_000);
});
