// A remote Docker engine over TLS, as docker-compose deployments reach one (DOCKER_HOST=tcp://…:2376,
// DOCKER_TLS_VERIFY=1, DOCKER_CERT_PATH): the broker verifies the engine against the CA and
// presents its own client certificate. The engine is this machine's real dockerd behind the test's
// TLS end (support/tls-engine.ts). How the variables are read and refused is config.test.ts's.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDockerRuntime } from '../server/runtime/index.js';
import { Browser, startTestBroker, type TestBroker } from './support/broker.js';
import { connectConsole, PROMPT } from './support/console-client.js';
import { writeConsoleCatalog } from './support/console-catalog.js';
import { startTlsEngine, type TlsEngine } from './support/tls-engine.js';

let engine: TlsEngine;
let t: TestBroker;

beforeAll(async () => {
  engine = await startTlsEngine();
  t = await startTestBroker({
    SALLYPORT_CATALOG: writeConsoleCatalog(inject('consoleImage')),
    CONSOLE_GREETING: 'x',
    DOCKER_HOST: `tcp://127.0.0.1:${engine.port}`,
    DOCKER_TLS_VERIFY: '1',
    DOCKER_CERT_PATH: engine.certPath('good', 'good'),
  });
});
afterAll(async () => {
  await t?.close();
  engine?.close();
});

describe('a remote engine over TLS', () => {
  it('runs a console through it, with the broker’s client certificate', async () => {
    const b = new Browser();
    await t.login(b, 'alice');
    const before = engine.admitted();
    const c = await connectConsole(t.url, 'shell', { cookie: `sallyport=${b.cookies(t.url).get('sallyport')}` });
    await c.waitFor(PROMPT);
    c.type('echo over-tls-$((40+2))\n');
    await c.waitFor(/over-tls-42/);
    c.type('exit\n');
    expect((await c.closed).reason).toMatch(/exited/);
    expect(engine.admitted()).toBeGreaterThan(before);
  });

  it('refuses an engine its CA did not sign, and is refused without the engine’s client certificate', async () => {
    const tls = (p: string) => ({ ca: readFileSync(join(p, 'ca.pem'), 'utf8'), cert: readFileSync(join(p, 'cert.pem'), 'utf8'), key: readFileSync(join(p, 'key.pem'), 'utf8') });
    for (const p of [engine.certPath('rogue', 'good'), engine.certPath('good', 'rogue')]) {
      const runtime = createDockerRuntime({ dockerHost: `tcp://127.0.0.1:${engine.port}`, dockerTls: tls(p), timeoutMs: 3000 });
      await expect(runtime.list()).rejects.toMatchObject({ code: 'RUNTIME_UNAVAILABLE' });
    }
  });
});
