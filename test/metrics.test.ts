// /metrics as Prometheus scrapes it: only with the configured bearer token, and the figures an
// operator watches move with what users do — a console opened, typed into and ended, a refused
// one, a pending approval, a failing webhook, chunk writes and audit appends timed, the pool.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { apiSession } from './support/api-session.js';
import { Browser, startTestBroker, type TestBroker } from './support/broker.js';
import { connectConsole, PROMPT } from './support/console-client.js';
import { writeConsoleCatalog } from './support/console-catalog.js';

const TOKEN = 'metrics-token-for-the-test-0123456789abcdef';
let t: TestBroker;
let off: TestBroker;
let cookie: string;

beforeAll(async () => {
  const catalog = writeConsoleCatalog(inject('consoleImage'));
  [t, off] = await Promise.all([
    // Webhooks to a port nothing listens on: every delivery fails.
    startTestBroker({ SALLYPORT_CATALOG: catalog, CONSOLE_GREETING: 'x', SALLYPORT_METRICS_TOKEN: TOKEN, SALLYPORT_WEBHOOK_URL: 'http://127.0.0.1:9/hook' }),
    startTestBroker({ SALLYPORT_CATALOG: catalog, CONSOLE_GREETING: 'x' }),
  ]);
  const b = new Browser();
  await t.login(b, 'alice');
  cookie = `sallyport=${b.cookies(t.url).get('sallyport')}`;
});
afterAll(async () => {
  await Promise.all([t?.close(), off?.close()]);
});

const scrape = (broker: TestBroker, authorization?: string) => fetch(`${broker.url}/metrics`, { headers: authorization ? { authorization } : {} });

/** The samples of a scrape: `name{labels}` → value. */
async function samples(): Promise<Map<string, number>> {
  const res = await scrape(t, `Bearer ${TOKEN}`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-z_:][a-z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

describe('/metrics', () => {
  it('is off without a token configured, and refuses a missing or wrong token', async () => {
    const offRes = await scrape(off, `Bearer ${TOKEN}`);
    expect(offRes.status).toBe(404);
    expect((await offRes.json()).error.message).toMatch(/SALLYPORT_METRICS_TOKEN/);
    for (const auth of [undefined, `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`, TOKEN, `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`]) {
      const res = await scrape(t, auth);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await res.text()).not.toMatch(/sallyport_console/);
    }
  });

  it('counts consoles opened, refused and ended, the bytes through them, and times their recording and audit', async () => {
    const before = await samples();
    const c = await connectConsole(t.url, 'shell', { cookie });
    await c.waitFor(PROMPT);
    expect((await samples()).get('sallyport_consoles_live{target="shell"}')).toBe(1);
    c.type('echo metrics-$((6*7))\n');
    await c.waitFor(/metrics-42/);
    c.type('exit\n');
    await c.closed;
    const refused = await connectConsole(t.url, 'ops-only', { cookie });
    await refused.closed;
    // Names that are no target share one label: asking for made-up ones grows nothing.
    for (const name of ['made-up-1', 'made-up-2']) await (await connectConsole(t.url, name, { cookie })).closed;

    await expect.poll(async () => (await samples()).get('sallyport_console_ends_total{target="shell",reason="process_exited"}'), { timeout: 10_000 }).toBe(1);
    const after = await samples();
    expect(after.get('sallyport_console_opens_total{target="shell",door="web",result="opened"}')).toBe(1);
    expect(after.get(`sallyport_console_opens_total{target="ops-only",door="web",result="${refused.messages[0]!.code}"}`)).toBe(1);
    expect(after.get('sallyport_console_opens_total{target="(unknown)",door="web",result="NOT_FOUND"}')).toBe(2);
    expect([...after.keys()].some((k) => k.includes('made-up'))).toBe(false);
    expect(after.get('sallyport_console_open_seconds_count{door="web"}')).toBe(1);
    expect(after.get('sallyport_console_open_seconds_sum{door="web"}')).toBeGreaterThan(0);
    expect(after.has('sallyport_consoles_live{target="shell"}')).toBe(false);
    const grew = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
    expect(grew('sallyport_console_input_bytes_total')).toBe(Buffer.byteLength('echo metrics-$((6*7))\nexit\n'));
    expect(grew('sallyport_console_output_bytes_total')).toBe(c.outputBytes().length);
    expect(grew('sallyport_recording_chunk_write_seconds_count')).toBeGreaterThan(0);
    expect(grew('sallyport_audit_append_seconds_count')).toBeGreaterThanOrEqual(2); // opened, ended
    expect(after.get('sallyport_recording_backlog_bytes')).toBe(0);
    expect(after.get('sallyport_db_pool_connections{state="total"}')).toBeGreaterThan(0);
    expect(after.has('nodejs_eventloop_lag_seconds')).toBe(true);
  });

  it('shows access requests waiting for a decision, and webhooks that fail', async () => {
    const alice = await apiSession(t, 'alice');
    const waiting = (await samples()).get('sallyport_access_requests_pending')!;
    const r = await alice.post('/api/access-requests', { target: 'gated', reason: 'look at the metrics', durationSeconds: 600 });
    expect(r.status).toBe(201);
    expect((await samples()).get('sallyport_access_requests_pending')).toBe(waiting + 1);
    // The approvers' notification cannot be delivered: counted, and still waiting.
    await expect.poll(async () => (await samples()).get('sallyport_webhook_failures_total'), { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    expect((await samples()).get('sallyport_webhook_undelivered')).toBeGreaterThanOrEqual(1);
  });
});

describe('monitoring from the first scrape', () => {
  it('has every target, end reason and audit action at zero before anything happens', async () => {
    const s = await samples();
    for (const target of ['shell', 'gated', 'quiet']) {
      expect(s.get(`sallyport_console_ends_total{target="${target}",reason="recording_failed"}`), target).toBeDefined();
      expect(s.get(`sallyport_console_opens_total{target="${target}",door="ssh",result="ACCESS_DENIED"}`), target).toBeDefined();
    }
    expect(s.get('sallyport_audit_events_total{action="audit.checkpoint_refused"}')).toBe(0);
    expect(s.get('sallyport_audit_events_total{action="auth.login_failed"}')).toBeDefined();
    expect([...s.keys()].some((k) => /^sallyport_catalog_info\{sha256="[0-9a-f]{64}"\}$/.test(k))).toBe(true);
    expect(s.get('sallyport_audit_checkpoint_age_seconds')).toBeGreaterThanOrEqual(0);
    expect(s.get('sallyport_search_index_backlog{measure="chunks"}')).toBeGreaterThanOrEqual(0);
  });

  it('is scraped by a real Prometheus with the documented alert rules loaded', async () => {
    const { execFileSync, spawn } = await import('node:child_process');
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { PACKAGE_ROOT } = await import('../server/paths.js');
    const { freePort } = await import('../server/dev/index.js');
    const rules = join(PACKAGE_ROOT, 'docs', 'alerts.yml');
    expect(execFileSync('promtool', ['check', 'rules', rules], { encoding: 'utf8' })).toMatch(/SUCCESS: \d+ rules found/);
    const dir = mkdtempSync(join(tmpdir(), 'sallyport-prom-'));
    writeFileSync(join(dir, 'token'), TOKEN);
    const target = new URL(t.url).host;
    // The scrape configuration docs/operations.md gives (http here: the test broker has no TLS).
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global: { scrape_interval: 1s, evaluation_interval: 1s }\nrule_files: [${rules}]\nscrape_configs:\n  - job_name: sallyport\n    authorization: { type: Bearer, credentials_file: ${join(dir, 'token')} }\n    static_configs: [{ targets: ['${target}'] }]\n`,
    );
    const port = await freePort();
    const prom = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
    try {
      const api = (path: string) => fetch(`http://127.0.0.1:${port}/api/v1/${path}`).then((r) => r.json() as Promise<{ data: any }>).catch(() => null);
      await expect.poll(async () => (await api('targets'))?.data?.activeTargets?.[0]?.health, { timeout: 30_000, interval: 500 }).toBe('up');
      const groups = (await api('rules'))!.data.groups as Array<{ rules: Array<{ name: string; health: string }> }>;
      const loaded = groups.flatMap((g) => g.rules);
      expect(loaded.map((r) => r.name)).toContain('SallyportAuditTampering');
      await expect.poll(async () => ((await api('rules'))!.data.groups as typeof groups).flatMap((g) => g.rules).every((r) => r.health === 'ok'), { timeout: 20_000, interval: 500 }).toBe(true);
      const q = await api(`query?query=${encodeURIComponent('sallyport_audit_events_total{action="audit.checkpoint_refused"}')}`);
      expect(q!.data.result.length).toBe(1);
    } finally {
      prom.kill('SIGTERM');
    }
  }, 60_000);
});
