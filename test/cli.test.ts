// The `sallyport` command as an operator runs it: production refuses a bad environment,
// `catalog check` and `migrate` work, and a serving broker reloads its catalogue on SIGHUP
// (keeping the old one when the new file is bad) and stops cleanly on SIGTERM.
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../server/dev/index.js';
import { openDatabase } from '../server/db/index.js';
import { DEMO_CATALOG, PACKAGE_ROOT } from '../server/paths.js';
import { FIXTURES } from './support/broker.js';
import { writeConsoleCatalog } from './support/console-catalog.js';
import { freshDatabase, type TestDatabase } from './support/postgres.js';
import { runCli, spawnCli, waitFor } from './support/process.js';
import { testSigningKey } from './support/signing-key.js';

describe('sallyport serve', () => {
  it('refuses to start without configuration and names every missing variable', async () => {
    const r = await runCli(['serve'], {});
    expect(r.code).toBe(2);
    for (const name of [
      'DATABASE_URL',
      'SALLYPORT_PUBLIC_URL',
      'SALLYPORT_OIDC_ISSUER',
      'SALLYPORT_OIDC_CLIENT_ID',
      'SALLYPORT_OIDC_CLIENT_SECRET',
      'SALLYPORT_SESSION_SECRET',
      'SALLYPORT_CATALOG',
      'SALLYPORT_SIGNING_KEY',
    ]) {
      expect(r.stderr).toContain(`- ${name}: is required`);
    }
    expect(r.stderr).toMatch(/configuration is invalid \(8 problems\)/);
  });
});

describe('sallyport --version', () => {
  it('prints the package version and starts nothing', async () => {
    const { version } = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = await runCli(['--version'], {});
    expect(r).toMatchObject({ code: 0, stdout: `sallyport ${version}\n`, stderr: '' });
  });
});

describe('sallyport catalog check', () => {
  it('accepts a valid catalogue and prints its hash', async () => {
    const r = await runCli(['catalog', 'check', join(FIXTURES, 'catalog.yaml')], { BILLING_DATABASE_URL: 'postgres://billing@db/billing' });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/is valid: 2 target\(s\), sha256 [0-9a-f]{64}/);
  });

  it('names each target and field that is wrong, with production rules by default', async () => {
    const r = await runCli(['catalog', 'check', DEMO_CATALOG], {});
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/target "php-console"\.image: "sallyport-demo\/php:latest" is a mutable tag/);
    expect(r.stderr).toMatch(/target "shell"\.image/);
    expect((await runCli(['catalog', 'check', DEMO_CATALOG, '--dev'], {})).code).toBe(0);
  });

  it('refuses what the broker would refuse at load: a fromEnv value this environment does not set', async () => {
    // The fixture's billing-console takes DATABASE_URL from the broker's BILLING_DATABASE_URL.
    const unset = await runCli(['catalog', 'check', join(FIXTURES, 'catalog.yaml')], {});
    expect(unset.code).toBe(2);
    expect(unset.stderr).toMatch(/environment\.DATABASE_URL: refers to broker variable BILLING_DATABASE_URL, which is not set/);
  });

  it('--engine asks the engine for each image and names an image ID written as a repository digest', async () => {
    // The console catalogue pins this engine's image by ID, and two targets name an image it lacks.
    const file = writeConsoleCatalog(inject('consoleImage'));
    const env = { CONSOLE_GREETING: 'x' };
    const missing = await runCli(['catalog', 'check', file, '--engine'], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/the engine cannot run 2 of its images/);
    expect(missing.stderr).toMatch(/target "missing-image"\.image: the container engine has no image sha256:0{64}: pull it/);
    expect(missing.stderr).not.toMatch(/target "shell"/);
    // Without --engine the same file is valid: only the engine knows what it holds.
    expect((await runCli(['catalog', 'check', file], env)).code).toBe(0);

    // The look-alike: the image ID after a repository name, which no registry serves.
    const id = /image: "(sha256:[0-9a-f]{64})"/.exec(readFileSync(file, 'utf8'))![1]!;
    const lookalike = join(mkdtempSync(join(tmpdir(), 'sallyport-engine-')), 'catalog.yaml');
    writeFileSync(
      lookalike,
      `version: 1\ntargets:\n  - { name: shell, description: a shell, runtime: docker, image: "sallyport-test/console@${id}", command: [sh], user: "1000:1000",\n      limits: { memory: 64m, cpus: 0.5, pids: 32, maxDuration: 1h, idleTimeout: 15m }, allow: { groups: [developers] } }\n`,
    );
    const wrong = await runCli(['catalog', 'check', lookalike, '--engine'], {});
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain(`target "shell".image: ${id} is this engine's image ID, written as a repository digest: write image: ${id}`);
  });

  it('reports an unreadable file', async () => {
    const r = await runCli(['catalog', 'check', '/nonexistent/catalog.yaml'], {});
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot read catalogue .*ENOENT/);
  });
});

describe('sallyport migrate', () => {
  let tdb: TestDatabase;
  beforeAll(async () => {
    tdb = await freshDatabase({ empty: true });
  });
  afterAll(async () => {
    await tdb?.drop();
  });

  it('applies pending migrations once', async () => {
    const first = await runCli(['migrate'], { DATABASE_URL: tdb.url });
    expect(first.stderr).toBe('');
    expect(first.stdout).toMatch(/applied migrations: 1/);
    const second = await runCli(['migrate'], { DATABASE_URL: tdb.url });
    expect(second.stdout).toMatch(/up to date/);
  });

  it('database commands read DATABASE_URL through the configuration and name what is wrong', async () => {
    for (const args of [['migrate'], ['verify', 'audit']]) {
      const missing = await runCli(args, {});
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/DATABASE_URL: is required \(or DATABASE_URL_FILE\)/);
      const wrong = await runCli(args, { DATABASE_URL: 'mysql://db/x' });
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toMatch(/DATABASE_URL: must be a postgres:\/\/ or postgresql:\/\/ URL/);
    }
    // verify without --jwks takes the configured keys, validated like the broker's own.
    const badKey = await runCli(['verify', 'audit'], { DATABASE_URL: tdb.url, SALLYPORT_SIGNING_KEY: '{"kty":"RSA"}' });
    expect(badKey.code).toBe(2);
    expect(badKey.stderr).toMatch(/SALLYPORT_SIGNING_KEY: must be an Ed25519 JWK/);
  });

  it('explains a database URL without a user, and a database that says no, in one line', async () => {
    // runCli's environment has no USER or PGUSER, as in a container.
    const noUser = await runCli(['migrate'], { DATABASE_URL: 'postgres://127.0.0.1/sallyport' });
    expect(noUser.code).toBe(2);
    expect(noUser.stderr).toMatch(/DATABASE_URL: names no user, and neither PGUSER nor USER is set/);
    const refused = await runCli(['migrate'], { DATABASE_URL: `postgres://someone@127.0.0.1:${await freePort()}/sallyport` });
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim()).toMatch(/^sallyport: connect ECONNREFUSED 127\.0\.0\.1:\d+ \(ECONNREFUSED\)$/);
  });
});

describe('sallyport COMMAND --help', () => {
  it('prints the command’s usage and starts nothing, for every command', async () => {
    const work = mkdtempSync(join(tmpdir(), 'sallyport-help-'));
    for (const command of ['serve', 'dev', 'migrate', 'catalog', 'verify', 'signing-key', 'ssh-ca', 'node-config', 'admin']) {
      for (const flag of ['--help', '-h']) {
        // No configuration at all: asked for help, nothing is checked, opened or created.
        const r = await runCli([command, flag], { SALLYPORT_DEV_DIR: join(work, 'dev') });
        expect(r, `${command} ${flag}`).toMatchObject({ code: 0, stderr: '' });
        expect(r.stdout).toMatch(new RegExp(`^usage:\n  ${command}\\b`));
      }
    }
    expect(existsSync(join(work, 'dev'))).toBe(false);
    const all = await runCli(['--help'], {});
    expect(all.code).toBe(0);
    for (const command of ['serve', 'dev', 'migrate', 'catalog check', 'verify audit', 'verify recording', 'signing-key new', 'ssh-ca new', 'node-config', 'admin login', 'admin sessions', '--version']) expect(all.stdout).toContain(`  ${command}`);
    // Nineteen CLI processes, each compiling its TypeScript: on a busy two-core machine, ~3 s each.
  }, 120_000);

  it('answers a mistyped option with a usage error (exit 2) and the command’s help, for parsed commands', async () => {
    for (const args of [['catalog', 'check', 'x.yaml', '--devv'], ['admin', 'sessions', '--jsn'], ['signing-key', 'new', 'k1', '--force']]) {
      const r = await runCli(args, {});
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^sallyport: Unknown option '--\\w+'\nusage:\n  ${args[0]}\\b`));
    }
  });

  it('says a missing evidence bundle is no such file, without asking for a database', async () => {
    const r = await runCli(['verify', 'recording', '/nonexistent/bundle.tar'], {});
    expect(r).toMatchObject({ code: 2, stderr: 'sallyport verify: no such file: /nonexistent/bundle.tar\n' });
  });
});

describe('sallyport dev', () => {
  it('refuses a second instance on the same data directory, and takes over a lock left by a dead one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sallyport-dev-lock-'));
    const env = { SALLYPORT_DEV_DIR: dir, PORT: '0', DOCKER_HOST: 'unix:///nonexistent.sock' };
    const startDev = async () => {
      const child = spawnCli(['dev'], env);
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      child.stderr!.on('data', (d) => (out += d));
      await waitFor('the dev banner', async () => (/DEV MODE/.test(out) ? true : undefined), 90_000);
      return { child, stop: () => new Promise<number | null>((r) => (child.once('close', (code) => r(code)), child.kill('SIGTERM'))) };
    };
    const first = await startDev();
    try {
      const second = await runCli(['dev'], env);
      expect(second.code).toBe(2);
      expect(second.stderr).toContain(`another sallyport dev (pid ${first.child.pid}) is using ${dir}`);
    } finally {
      // A clean stop, and the lock is gone with it.
      expect(await first.stop()).toBe(0);
    }
    expect(existsSync(join(dir, 'dev.lock'))).toBe(false);
    // A lock whose owner is gone (a SIGKILL) does not keep dev mode from starting.
    writeFileSync(join(dir, 'dev.lock'), '2147483646\n');
    const again = await startDev();
    expect(await again.stop()).toBe(0);
  }, 240_000);
});

describe('a serving broker', () => {
  let tdb: TestDatabase;
  beforeAll(async () => {
    tdb = await freshDatabase();
  });
  afterAll(async () => {
    await tdb?.drop();
  });

  it('refuses a catalogue with mutable image tags in production', async () => {
    const r = await runCli(['serve'], {
      DATABASE_URL: tdb.url,
      SALLYPORT_PUBLIC_URL: 'https://sallyport.example.com',
      SALLYPORT_OIDC_ISSUER: 'https://idp.example.com',
      SALLYPORT_OIDC_CLIENT_ID: 'x',
      SALLYPORT_OIDC_CLIENT_SECRET: 'y',
      SALLYPORT_SESSION_SECRET: 'z'.repeat(40),
      SALLYPORT_SIGNING_KEY: testSigningKey(),
      SALLYPORT_CATALOG: DEMO_CATALOG,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/target "php-console"\.image: "sallyport-demo\/php:latest" is a mutable tag; production requires an image pinned by digest/);
  });

  it('starts while the IdP is down, reloads its catalogue on SIGHUP, keeps it when the new one is bad, and stops on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sallyport-serve-'));
    const catalog = join(dir, 'catalog.yaml');
    copyFileSync(join(FIXTURES, 'catalog.yaml'), catalog);
    const port = await freePort();
    const child = spawnCli(['serve'], {
      DATABASE_URL: tdb.url,
      HOST: '127.0.0.1',
      PORT: String(port),
      SALLYPORT_PUBLIC_URL: `http://127.0.0.1:${port}`,
      SALLYPORT_OIDC_ISSUER: `http://127.0.0.1:${await freePort()}`,
      SALLYPORT_OIDC_CLIENT_ID: 'sallyport',
      SALLYPORT_OIDC_CLIENT_SECRET: 'secret',
      SALLYPORT_SESSION_SECRET: randomBytes(32).toString('hex'),
      SALLYPORT_SIGNING_KEY: testSigningKey(),
      SALLYPORT_CATALOG: catalog,
      BILLING_DATABASE_URL: 'postgres://billing/db',
    });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const db = openDatabase(tdb.url, { poolSize: 1 });
    const events = async (action: string) =>
      (
        await db.query<{ details: { sha256: string } }>(
          `select details from audit_events where action = $1 and details->>'path' = $2 order by seq`,
          [action, catalog],
        )
      ).rows;
    try {
      await waitFor('readyz', async () => ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200 ? true : undefined));

      // The IdP is unreachable: login says so clearly instead of hanging or crashing.
      const login = await fetch(`http://127.0.0.1:${port}/auth/login`, { redirect: 'manual', headers: { accept: 'application/json' } });
      expect(login.status).toBe(503);
      expect((await login.json()).error.code).toBe('IDP_UNAVAILABLE');

      writeFileSync(catalog, 'version: 1\ntargets:\n  - name: Broken Target\n');
      child.kill('SIGHUP');
      await waitFor('catalog.rejected', async () => ((await events('catalog.rejected')).length === 1 ? true : undefined));
      await waitFor('reload refusal logged', async () => (/keeping the previous one/.test(output) ? true : undefined));
      expect(output).toMatch(/target \\?"Broken Target\\?"\.name: must be lowercase/);

      copyFileSync(join(FIXTURES, 'catalog.yaml'), catalog);
      writeFileSync(catalog, '\n# edited\n', { flag: 'a' });
      child.kill('SIGHUP');
      await waitFor('second catalog.loaded', async () => ((await events('catalog.loaded')).length === 2 ? true : undefined));
      const loaded = await events('catalog.loaded');
      expect(loaded[0]!.details.sha256).not.toBe(loaded[1]!.details.sha256);

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
      await db.close();
    }
  });
});
