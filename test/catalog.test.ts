// The target catalogue: a valid file loads; each kind of mistake is named with its target and
// field; production refuses mutable tags; a reload with a bad file keeps the old catalogue and
// every load leaves the file's SHA-256 in the audit log (real PostgreSQL).
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createAuditLog } from '../server/audit/index.js';
import { loadCatalogFile, openCatalogStore, parseCatalog } from '../server/catalog/index.js';
import { DEMO_CATALOG } from '../server/paths.js';
import { FIXTURES } from './support/broker.js';
import { useDatabase } from './support/postgres.js';

const DIGEST = '@sha256:' + 'a'.repeat(64);
const target = (over: Record<string, unknown> = {}) => ({
  name: 'billing',
  description: 'Billing console',
  runtime: 'docker',
  image: `registry.example/billing${DIGEST}`,
  command: ['bin/rails', 'console'],
  limits: { memory: '512m', cpus: 1, pids: 128, maxDuration: '1h', idleTimeout: '15m' },
  allow: { groups: ['developers'] },
  ...over,
});
const doc = (...targets: unknown[]) => JSON.stringify({ version: 1, targets });

function problemsOf(text: string, options = { requireDigest: true }) {
  const r = parseCatalog(text, options);
  if (r.ok) throw new Error('expected problems');
  return r.problems.map((p) => `${p.field}: ${p.message}`);
}

const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKN33CqhYG3FNJ4qDNjnQarb5HMX8eJ9TIl16dH0vHbH';
const node = (over: Record<string, unknown> = {}) => ({ name: 'app-1', address: '10.0.0.5', hostKey: HOST_KEY, labels: { pool: 'billing' }, ...over });
const fleetDoc = (nodes: unknown[], ...targets: unknown[]) => JSON.stringify({ version: 1, nodes, targets });
const sshTarget = (over: Record<string, unknown> = {}) => ({
  name: 'legacy',
  description: 'A process on the node',
  runtime: 'ssh',
  nodes: ['app-1'],
  command: ['bin/rails', 'console'],
  limits: { maxDuration: '1h', idleTimeout: '15m' },
  allow: { groups: ['developers'] },
  ...over,
});

describe('fleet nodes in the catalogue', () => {
  it('resolves a target\'s pool (names or labels) to sorted node names; no nodes = the broker\'s engine', () => {
    const r = parseCatalog(
      fleetDoc(
        [node({ name: 'app-2' }), node(), node({ name: 'web-1', labels: { pool: 'web' } })],
        target({ nodes: { labels: { pool: 'billing' } } }),
        sshTarget({ nodes: ['web-1', 'app-1'] }),
        target({ name: 'local' }),
      ),
      { requireDigest: true },
    );
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(r.targets.map((t) => [t.name, t.placement])).toEqual([
      ['billing', ['app-1', 'app-2']],
      ['legacy', ['app-1', 'web-1']],
      ['local', []],
    ]);
    expect(r.nodes[1]).toMatchObject({ name: 'app-1', port: 22, login: 'sallyport' });
    // A plain process has no image: nothing to pin.
    expect(r.targets[1]).toMatchObject({ runtime: 'ssh', image: '' });
  });

  it('names the node, target and field for each mistake', () => {
    const problems = problemsOf(
      fleetDoc(
        [node({ hostKey: 'ssh-ed25519 not-base64!' }), node({ name: 'app-2', port: 0, login: 'Root!', address: 'a b' }), node({ name: 'app-2' }), node({ name: 'app-3', hostKey: 'ssh-rsa ' + HOST_KEY.split(' ')[1] })],
        target({ nodes: ['app-9'] }),
        target({ name: 'by-label', nodes: { labels: { pool: 'nowhere' } } }),
        sshTarget({ environment: { SECRET: 'x' } }),
        sshTarget({ name: 'no-pool', nodes: undefined }),
        sshTarget({ name: 'with-image', image: 'x' }),
      ),
    );
    const expected = [
      /node "app-1"\.hostKey: must be an OpenSSH public key line/,
      /node "app-2"\.port: /,
      /node "app-2"\.login: must be a user name/,
      /node "app-2"\.address: must be an IP address or DNS name/,
      /node "app-2"\.name: duplicates nodes\[1\]/,
      /node "app-3"\.hostKey: the key says "ssh-rsa" but holds a ssh-ed25519 key/,
      /target "billing"\.nodes\[0\]: names node "app-9", which is not in the catalogue's nodes/,
      /target "by-label"\.nodes\.labels: matches no node \(pool=nowhere\)/,
      /target "legacy"\.environment: is not supported on runtime ssh/,
      /target "no-pool"\.nodes: /,
      /target "with-image": unknown field "image"/,
    ];
    for (const re of expected) expect(problems.some((p) => re.test(p)), `${re} in\n${problems.join('\n')}`).toBe(true);
  });
});

describe('parseCatalog', () => {
  it('loads the test fixture and fills defaults', () => {
    const c = loadCatalogFile(join(FIXTURES, 'catalog.yaml'), { requireDigest: true, env: { BILLING_DATABASE_URL: 'x' } });
    expect(c.targets.map((t) => t.name)).toEqual(['billing-console', 'ops-shell']);
    expect(c.sha256).toBe(createHash('sha256').update(readFileSync(join(FIXTURES, 'catalog.yaml'))).digest('hex'));
    const ops = c.targets[1]!;
    expect(ops).toMatchObject({ network: 'none', recordInput: true, approval: { required: false }, environment: {} });
    expect(ops.limits).toEqual({ memory: 64 * 1024 ** 2, cpus: 0.25, pids: 32, maxDuration: 1800, idleTimeout: 600 });
    expect(Object.isFrozen(ops.limits)).toBe(true);
  });

  it('accepts the demo catalogue in dev mode and refuses its tags in production', () => {
    expect(loadCatalogFile(DEMO_CATALOG, { requireDigest: false }).targets.length).toBeGreaterThan(0);
    expect(() => loadCatalogFile(DEMO_CATALOG, { requireDigest: true })).toThrow(/invalid/);
  });

  it('names target and field for each kind of mistake', () => {
    const problems = problemsOf(
      doc(
        target({ name: 'no-image', image: undefined }),
        target({ name: 'shell-string', command: 'bin/rails console' }),
        target({ name: 'bad-limits', limits: { memory: 'lots', cpus: 0, pids: 1, maxDuration: 'soon', idleTimeout: '5m' } }),
        target({ name: 'typo', alow: { groups: ['x'] } }),
        target({ name: 'tagged', image: 'registry.example/app:latest' }),
        target({ name: 'as-root', user: 'root' }),
        target({ name: 'idle', limits: { memory: '64m', cpus: 1, pids: 32, maxDuration: '10m', idleTimeout: '1h' } }),
        target({ name: 'nobody', allow: { groups: [] } }),
        target({ name: 'Bad Name!' }),
        target({ name: 'billing' }),
        target({ name: 'billing' }),
        target({ name: 'odd-runtime', runtime: 'kubernetes' }),
        target({ name: 'w-relative', writable: ['tmp'] }),
        target({ name: 'w-escape', writable: ['/app/../etc'] }),
        target({ name: 'w-proc', writable: ['/proc/sys'] }),
        target({ name: 'w-twice', writable: ['/app/tmp', '/app/tmp'] }),
        target({ name: 'w-tmp', writable: ['/tmp'] }),
      ),
    );
    const expected = [
      /target "no-image"\.image: is required/,
      /target "shell-string"\.command: must be an argv array/,
      /target "bad-limits"\.limits\.memory: must be a size/,
      /target "bad-limits"\.limits\.cpus: /,
      /target "bad-limits"\.limits\.pids: /,
      /target "bad-limits"\.limits\.maxDuration: must be a duration/,
      /target "typo": unknown field "alow"/,
      /target "tagged"\.image: .*mutable tag.*digest/,
      /target "as-root"\.user: must not be root/,
      /target "idle"\.limits\.idleTimeout: must not exceed limits\.maxDuration/,
      /target "nobody"\.allow\.groups: must name at least one group/,
      /target "Bad Name!"\.name: must be lowercase/,
      /target "billing"\.name: duplicates targets\[9\]/,
      /target "odd-runtime"\.runtime: must be one of "docker", "ssh"/,
      /target "w-relative"\.writable\[0\]: must be an absolute path/,
      /target "w-escape"\.writable\[0\]: must not contain \. or \.\. segments/,
      /target "w-proc"\.writable\[0\]: must not be under \/proc/,
      /target "w-twice"\.writable: must not name a directory twice/,
      /target "w-tmp"\.writable\[0\]: is writable already/,
    ];
    for (const re of expected) expect(problems.some((p) => re.test(p)), `${re} in\n${problems.join('\n')}`).toBe(true);
  });

  it('refuses environment references to broker variables that are not set', () => {
    const r = parseCatalog(doc(target({ environment: { DATABASE_URL: { fromEnv: 'BILLING_DB' }, RAILS_ENV: 'production' } })), {
      requireDigest: true,
      env: {},
    });
    expect(r.ok).toBe(false);
    // A JSON catalogue on one line: that line.
    expect(!r.ok && r.problems).toEqual([{ field: 'target "billing".environment.DATABASE_URL', message: 'refers to broker variable BILLING_DB, which is not set', line: 1 }]);
  });

  it('gives every problem of a file at once, each with its line', () => {
    const text = [
      'version: 1', // 1
      'targets:', // 2
      '  - name: billing', // 3
      '    description: Rails console', // 4
      '    runtime: docker', // 5
      '    image: "registry.example.test/billing:latest"', // 6
      '    command: [bin/rails, console]', // 7
      '    limits: { memory: 512m, cpus: 1, pids: 128, maxDuration: 1h, idleTimeout: 2h }', // 8
      '    allow: { groups: [developers] }', // 9
      '  - name: reports', // 10
      '    description: psql', // 11
      '    runtime: docker', // 12
      `    image: "sha256:${'a'.repeat(64)}"`, // 13
      '    command: [psql]', // 14
      '    colour: blue', // 15
      '    limits: { memory: 512m, cpus: 1, pids: 128, maxDuration: 1h, idleTimeout: 15m }', // 16
      '    allow: { groups: [developers] }', // 17
    ].join('\n');
    const r = parseCatalog(text, { requireDigest: true });
    expect(r.ok).toBe(false);
    const got = !r.ok ? r.problems.map((p) => [p.line, p.field, p.message.split(';')[0]]) : [];
    expect(got).toEqual(
      expect.arrayContaining([
        [6, 'target "billing".image', '"registry.example.test/billing:latest" is a mutable tag'],
        [8, 'target "billing".limits.idleTimeout', 'must not exceed limits.maxDuration'],
        [15, 'target "reports"', 'unknown field "colour"'],
      ]),
    );
  });

  it('reports YAML syntax errors, a wrong version and an empty list', () => {
    expect(problemsOf('version: 1\ntargets: [\n')[0]).toMatch(/^file: is not valid YAML/);
    expect(problemsOf('version: 2\ntargets: []')).toEqual(
      expect.arrayContaining([expect.stringMatching(/^version: must be 1/), expect.stringMatching(/^targets: must list at least one/)]),
    );
    expect(problemsOf('version: 1\nversion: 1\ntargets: []')[0]).toMatch(/^file: /);
  });
});

describe('catalogue store', () => {
  const handle = useDatabase();

  it('keeps the old catalogue when a reload finds a bad file, and audits every load with its hash', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sallyport-catalog-'));
    const file = join(dir, 'catalog.yaml');
    copyFileSync(join(FIXTURES, 'catalog.yaml'), file);
    const audit = createAuditLog(handle.db);
    const store = await openCatalogStore(file, { requireDigest: true, env: { BILLING_DATABASE_URL: 'x' } }, audit);
    const first = store.current();

    writeFileSync(file, doc(target({ image: 'registry.example/app:latest' })));
    const bad = await store.reload();
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.error.describe()).toMatch(/target "billing"\.image/);
    expect(store.current()).toBe(first);

    writeFileSync(file, doc(target()));
    const good = await store.reload();
    expect(good.ok).toBe(true);
    expect(store.current().targets.map((t) => t.name)).toEqual(['billing']);

    const events = await audit.list({});
    const sha = (s: string) => createHash('sha256').update(s).digest('hex');
    expect(events.map((e) => [e.action, e.details.sha256])).toEqual([
      ['catalog.loaded', first.sha256],
      ['catalog.rejected', sha(doc(target({ image: 'registry.example/app:latest' })))],
      ['catalog.loaded', sha(doc(target()))],
    ]);
  });
});
