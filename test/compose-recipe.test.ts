// The docker-compose recipe in docs/operations.md, followed literally: its shell block is run as
// written, in a directory holding only docker-compose.yml, docs/catalog.example.yaml and the
// operator's engine certificates, and the broker is then started from what it produced — the
// compose file's environment for the service, its secrets and volumes mapped to the files the
// recipe made — as a real `sallyport serve` process. What an operator would notice: a step that
// fails, a secret the compose file needs that the recipe never makes, a catalogue the broker
// refuses, a signing key or engine certificate it cannot read.
//
// What cannot run here, and stands in instead (said so, as the brief asks): Compose v2 is not in
// Debian's packages, so `docker` is a shim (support/compose-shim.mjs) that interpolates the whole
// file as compose does (a `${VAR:?…}` unset fails every command), runs `compose run sallyport …`
// as the broker's CLI and records `build` and `up`. The base image needs a registry, so no image
// is built and the broker runs as a process. The recipe's PostgreSQL service, engine and IdP are
// example.com names: the process is given this test's database, TLS engine and IdP instead.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { freePort } from '../server/dev/index.js';
import { PACKAGE_ROOT } from '../server/paths.js';
import { startTestBroker, type TestBroker } from './support/broker.js';
import { CLI, waitFor } from './support/process.js';
import { startTlsEngine, type TlsEngine } from './support/tls-engine.js';

let engine: TlsEngine;
let h: TestBroker;
let serve: ChildProcess | undefined;

beforeAll(async () => {
  engine = await startTlsEngine();
  h = await startTestBroker();
});
afterAll(async () => {
  serve?.kill('SIGTERM');
  await h?.close();
  engine?.close();
});

/** The first shell block under "## Deploy with docker-compose". */
function recipe(): string {
  const doc = readFileSync(join(PACKAGE_ROOT, 'docs', 'operations.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## Deploy with docker-compose'));
  const m = /```sh\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error('no shell block in the compose section of docs/operations.md');
  return m[1]!;
}

describe('the docker-compose recipe', () => {
  it('runs as written and gives a broker that starts: secrets, signing key, catalogue and engine all read', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sallyport-compose-'));
    copyFileSync(join(PACKAGE_ROOT, 'docker-compose.yml'), join(dir, 'docker-compose.yml'));
    mkdirSync(join(dir, 'docs'), { recursive: true });
    copyFileSync(join(PACKAGE_ROOT, 'docs', 'catalog.example.yaml'), join(dir, 'docs', 'catalog.example.yaml'));
    // What the operator brings: the console engine's CA and the broker's client pair.
    const certs = engine.certPath('good', 'good');
    for (const f of ['ca.pem', 'cert.pem', 'key.pem']) copyFileSync(join(certs, f), join(dir, f));
    const shimBin = mkdtempSync(join(tmpdir(), 'sallyport-compose-bin-'));
    writeFileSync(join(shimBin, 'docker'), `#!/bin/sh\nexec "${process.execPath}" "${join(PACKAGE_ROOT, 'test', 'support', 'compose-shim.mjs')}" "$@"\n`);
    chmodSync(join(shimBin, 'docker'), 0o755);
    const shimLog = join(dir, 'compose-calls.jsonl');

    const r = spawnSync('bash', ['-euo', 'pipefail', '-c', recipe()], {
      cwd: dir,
      encoding: 'utf8',
      env: {
        PATH: `${shimBin}:${process.env.PATH}`,
        HOME: process.env.HOME,
        YOUR_CLIENT_SECRET: h.config.oidc.clientSecret,
        COMPOSE_SHIM_LOG: shimLog,
        COMPOSE_SHIM_CLI: CLI,
        COMPOSE_SHIM_ROOT: PACKAGE_ROOT,
      },
    });
    expect(r.status, `the recipe failed:\n${r.stderr}`).toBe(0);
    const calls = readFileSync(shimLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { command: string; args?: string[]; environment?: Record<string, string>; secrets?: Record<string, { file: string }>; volumes?: string[] });
    expect(calls.map((c) => c.command)).toEqual(['build', 'run', 'up']);
    const month = new Date().toISOString().slice(0, 7);
    expect(calls[1]!.args).toEqual(['signing-key', 'new', month]);
    const up = calls[2]!;

    // docker-compose 1.29 (Debian's, for hosts without Compose v2) reads the same file to the same
    // service: the recipe's exports, then its `config`, which interpolates and validates it all.
    const exports = recipe().split('\n').filter((l) => l.startsWith('export ')).join('\n');
    const v1 = spawnSync('bash', ['-euo', 'pipefail', '-c', `${exports}\ndocker-compose config`], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: process.env.HOME } });
    expect(v1.status, `docker-compose 1.29 refused the file:\n${v1.stderr}`).toBe(0);
    const v1Service = (parseYaml(v1.stdout) as { services: { sallyport: { environment: Record<string, string>; read_only: boolean; user?: string } } }).services.sallyport;
    expect(v1Service.environment).toEqual(Object.fromEntries(Object.entries(calls[2]!.environment!).map(([k, v]) => [k, String(v)])));
    expect(v1Service.read_only).toBe(true);

    // Every secret the compose file names exists and is not empty.
    for (const [name, s] of Object.entries(up.secrets!)) expect(readFileSync(join(dir, s.file), 'utf8').length, `secret ${name}`).toBeGreaterThan(0);

    // The service's environment with its container paths mapped to the recipe's files, as the
    // secrets and volumes would mount them.
    const mounts: Array<[string, string]> = [
      ...Object.entries(up.secrets!).map(([name, s]) => [`/run/secrets/${name}`, join(dir, s.file)] as [string, string]),
      ...up.volumes!.filter((v) => v.startsWith('./')).map((v) => {
        const [from, to] = v.split(':');
        return [to!, join(dir, from!)] as [string, string];
      }),
    ];
    const mapped = (value: string) => {
      const m = mounts.find(([to]) => value === to || value.startsWith(`${to}/`));
      return m ? m[1] + value.slice(m[0].length) : value;
    };
    const env: Record<string, string> = Object.fromEntries(Object.entries(up.environment!).map(([k, v]) => [k, mapped(String(v))]));
    // Stand-ins for the example.com services (see the top of this file).
    const databaseUrlFile = join(dir, 'test-database-url');
    writeFileSync(databaseUrlFile, h.db.url);
    const port = await freePort();
    Object.assign(env, {
      DATABASE_URL_FILE: databaseUrlFile,
      DOCKER_HOST: `tcp://127.0.0.1:${engine.port}`,
      SALLYPORT_OIDC_ISSUER: h.idp.issuer,
      // The image's own ENV (Dockerfile), on a free loopback port instead of 0.0.0.0:8080.
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
    });
    const admittedBefore = engine.admitted();
    serve = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve'], { cwd: PACKAGE_ROOT, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    serve.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const url = `http://127.0.0.1:${port}`;
    const ready = await waitFor('the broker started from the recipe to be ready', async () => {
      if (serve!.exitCode !== null) return 'exited';
      return (await fetch(`${url}/readyz`).catch(() => null))?.status === 200 ? 'ready' : undefined;
    }, 60_000).catch((err: Error) => err.message);
    expect(ready, stderr).toBe('ready');

    // The signing key the recipe made is the one that signs (its kid is the month it was made).
    const jwks = (await (await fetch(`${url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> };
    expect(jwks.keys.map((k) => k.kid)).toContain(month);
    // The catalogue the recipe copied is the one loaded, by its hash.
    const sha256 = createHash('sha256').update(readFileSync(join(dir, 'catalog.yaml'))).digest('hex');
    const loaded = await h.broker.db.query(`select details from audit_events where action = 'catalog.loaded' and details->>'sha256' = $1`, [sha256]);
    expect(loaded.rows.length).toBeGreaterThan(0);
    // The engine was reached over TLS with the client pair the recipe put in secrets/docker.
    await waitFor('the broker to reach its console engine', async () => (engine.admitted() > admittedBefore ? true : undefined), 20_000);
  });
});
