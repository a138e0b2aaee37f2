// Behind a real nginx: the broker believes X-Forwarded-For only from the proxies it is told to
// trust (SALLYPORT_TRUSTED_PROXIES), so the client address in the audit log is the user's, not the
// proxy's — for a request, a decision and a console — while a client that reaches the broker
// directly cannot choose its address by sending the header itself.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../server/dev/index.js';
import { apiSession, type ApiSession } from './support/api-session.js';
import { startTestBroker, type TestBroker } from './support/broker.js';
import { writeConsoleCatalog } from './support/console-catalog.js';

let t: TestBroker;
let nginx: ChildProcess;
let proxyPort: number;
let alice: ApiSession;

/** A JSON POST from a given local address (as a user elsewhere on the network would come). */
function post(port: number, path: string, body: unknown, headers: Record<string, string>, from: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', localAddress: from, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(data);
  });
}

beforeAll(async () => {
  t = await startTestBroker({ SALLYPORT_CATALOG: writeConsoleCatalog(inject('consoleImage')), CONSOLE_GREETING: 'x', SALLYPORT_TRUSTED_PROXIES: '127.0.0.1' });
  alice = await apiSession(t, 'alice');
  const dir = mkdtempSync(join(tmpdir(), 'sallyport-nginx-'));
  mkdirSync(join(dir, 'logs'));
  proxyPort = await freePort();
  // As docs/operations.md configures the proxy in front: the client's address replaces whatever
  // X-Forwarded-For the client sent.
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;\npid ${join(dir, 'nginx.pid')};\nerror_log ${join(dir, 'logs', 'error.log')};\nevents {}\nhttp {\n  access_log off;\n  client_body_temp_path ${dir};\n  proxy_temp_path ${dir};\n  server {\n    listen 127.0.0.1:${proxyPort};\n    location / {\n      proxy_pass ${t.url};\n      proxy_http_version 1.1;\n      proxy_set_header Host $host;\n      proxy_set_header X-Forwarded-For $remote_addr;\n      proxy_set_header Upgrade $http_upgrade;\n      proxy_set_header Connection $http_connection;\n    }\n  }\n}\n`,
  );
  nginx = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: 'ignore' });
  for (let i = 0; i < 50; i++) {
    try {
      execFileSync('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${proxyPort}`]);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}, 60_000);
afterAll(async () => {
  nginx?.kill('SIGTERM');
  await t?.close();
});

describe('behind a trusted proxy', () => {
  it("records the client's address, not the proxy's; a header sent straight to the broker is ignored", async () => {
    const cookie = `sallyport=${alice.browser.cookies(t.url).get('sallyport')}`;
    const headers = { cookie, origin: t.url, 'x-csrf-token': alice.csrf };
    // Through nginx, from 127.0.0.2 (with a forged header nginx replaces).
    expect(await post(proxyPort, '/api/access-requests', { target: 'gated', reason: 'via the proxy', durationSeconds: 600 }, { ...headers, 'x-forwarded-for': '203.0.113.66' }, '127.0.0.2')).toBe(201);
    // Straight to the broker from 127.0.0.3, claiming to be someone else: not believed.
    expect(await post(Number(new URL(t.url).port), '/api/access-requests', { target: 'gated', reason: 'direct', durationSeconds: 600 }, { ...headers, 'x-forwarded-for': '203.0.113.77' }, '127.0.0.3')).toBe(201);
    const requested = (await t.broker.audit.list({ action: 'access.requested', limit: 10 })).map((e) => e.details as { reason: string; clientAddress: string });
    expect(requested.find((d) => d.reason === 'via the proxy')?.clientAddress).toBe('127.0.0.2');
    expect(requested.find((d) => d.reason === 'direct')?.clientAddress).toBe('127.0.0.3');
  });
});
