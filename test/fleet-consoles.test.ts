// Consoles on a fleet node through the web front door: a real sshd in a network namespace,
// locked down with `sallyport node-config`, reached only with the broker's one-minute
// certificates. Both runtimes: Docker over SSH (the node's `docker system dial-stdio`; here the
// node's docker CLI talks to this machine's engine) and a plain process under a PTY.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readRecordingChunks } from '../server/db/index.js';
import { parseAsciicast } from '../server/recording/index.js';
import { fleetKeyId } from '../server/runtime/fleet/pool.js';
import { fingerprint, parsePublicKeyLine } from '../server/signing/index.js';
import { Browser, startTestBroker, type TestBroker } from './support/broker.js';
import { connectConsole, PROMPT, watchConsole } from './support/console-client.js';
import { apiSession } from './support/api-session.js';
import { brokerContainers, expectNoContainers } from './support/docker.js';
import { NODE_LOGIN, nodeConfigFiles, startFleetNode, type FleetNode } from './support/fleet-node.js';
import { randomBytes } from 'node:crypto';
import { freePort } from '../server/dev/index.js';
import { runCli, spawnCli, waitFor } from './support/process.js';
import { launchChromium, signInAs } from './support/chromium.js';
import { replicaEnv } from './support/replica.js';

let t: TestBroker;
let node: FleetNode;
let cookie: string;
let caText: string;
let catalog: string;
/** A file that exists only if a word of the argv was run as a command on the node. */
const PWNED = `/tmp/sallyport-pwned-${process.pid}`;

async function recordingText(id: string): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of readRecordingChunks(t.broker.db, id)) parts.push(c);
  return Buffer.concat(parts).toString('utf8');
}

async function auditOf(sessionId: string, action: string): Promise<Record<string, unknown>> {
  const { rows } = await t.broker.db.query(`select details from audit_events where subject = $1 and action = $2`, [sessionId, action]);
  return rows[0]?.details;
}

function writeFleetCatalog(image: string, n: FleetNode): string {
  const imageId = execFileSync('docker', ['image', 'inspect', '-f', '{{.Id}}', image], { encoding: 'utf8' }).trim();
  const file = join(mkdtempSync(join(tmpdir(), 'sallyport-fleet-')), 'catalog.yaml');
  writeFileSync(
    file,
    `version: 1
nodes:
  - { name: app-1, address: "${n.address}", hostKey: "${n.hostKey}", login: ${NODE_LOGIN}, labels: { pool: billing }, sshdConfig: "${n.sshdConfig}" }
targets:
  - { name: fleet-shell, description: a container on app-1, runtime: docker, nodes: { labels: { pool: billing } }, image: "${imageId}", command: [sh],
      user: "1000:1000", limits: { memory: 64m, cpus: 0.5, pids: 32, maxDuration: 1h, idleTimeout: 15m }, allow: { groups: [developers] } }
  - { name: node-shell, description: a shell on the node itself, runtime: ssh, nodes: [app-1], command: [sh],
      limits: { maxDuration: 1h, idleTimeout: 15m }, allow: { groups: [developers] } }
  - { name: argv-exact, description: hostile words in the argv, runtime: ssh, nodes: [app-1],
      command: [printf, "[%s]", "a b", "$(touch ${PWNED})", "'; touch ${PWNED}; '", "\`touch ${PWNED}\`", 'say "hi"; touch ${PWNED}'],
      limits: { maxDuration: 1h, idleTimeout: 15m }, allow: { groups: [developers] } }
`,
  );
  return file;
}

beforeAll(async () => {
  caText = (await runCli(['ssh-ca', 'new'], {})).stdout;
  node = await startFleetNode({ files: nodeConfigFiles(caText) });
  catalog = writeFleetCatalog(inject('consoleImage'), node);
  // A short lease: the harness is also the survivor that takes over a killed replica.
  t = await startTestBroker({ SALLYPORT_CATALOG: catalog, SALLYPORT_SSH_CA_KEY: caText, SALLYPORT_BROKER_LEASE_SECONDS: '3' });
  const b = new Browser();
  await t.login(b, 'alice');
  cookie = `sallyport=${b.cookies(t.url).get('sallyport')}`;
});

afterAll(async () => {
  await t?.close();
  await node?.stop();
});

describe('a console on a fleet node', () => {
  it('publishes the CA public key nodes trust', async () => {
    const res = await fetch(`${t.url}/.well-known/sallyport/ssh-ca.pub`);
    expect(res.status).toBe(200);
    const { publicKeyLine, parsePrivateKeyFile } = await import('../server/signing/index.js');
    expect(await res.text()).toBe(`${publicKeyLine(parsePrivateKeyFile(caText).key.publicKey, 'sallyport-user-ca')}\n`);
  });

  it('docker over SSH: echo, resize, exit status, recording and audit as for a local console; container removed', async () => {
    const c = await connectConsole(t.url, 'fleet-shell', { cookie, open: { cols: 90, rows: 30 } });
    await c.waitFor(PROMPT, 15_000);
    const id = c.messages.find((m) => m.type === 'started')!.sessionId as string;
    expect(brokerContainers(t.broker.instanceId)).toHaveLength(1);
    c.type('echo $((6*7)) fleet\n');
    await c.waitFor(/42 fleet/);
    c.send({ type: 'resize', cols: 120, rows: 40 });
    c.type('stty size\n');
    await c.waitFor(/^40 120\r?$/m);
    await c.waitFor(PROMPT);
    c.type('exit 7\n');
    await c.closed;
    expect(c.messages.at(-1)).toEqual({ type: 'exit', reason: 'process exited', code: 'process_exited', exitCode: 7 });
    await expectNoContainers(t.broker.instanceId);

    const row = (await t.broker.db.query(`select * from console_sessions where id = $1`, [id])).rows[0];
    expect(row).toMatchObject({ target: 'fleet-shell', runtime: 'docker', node: 'app-1', exit_code: 7, end_code: 'process_exited' });
    expect(row.image_id).toMatch(/^sha256:/);
    const { events } = parseAsciicast(await recordingText(id));
    expect(events.filter((e) => e.code === 'o').map((e) => e.data).join('')).toBe(c.output());

    const opened = await auditOf(id, 'console.opened');
    expect(opened).toMatchObject({ runtime: 'docker', node: 'app-1' });
    const cert = opened.certificate as { serial: string; keyId: string; sourceAddress: string };
    expect(cert.keyId).toBe(`sallyport session=${id} user=alice target=fleet-shell`);
    // Bound to the address the broker connected from, as signed.
    expect(cert.sourceAddress).toBe(node.brokerAddress);
    // The node's sshd logged the same certificate: the audit log and the node agree.
    expect(node.log()).toContain(`ID "${cert.keyId}" (serial ${cert.serial})`);
  });

  it('runtime ssh: exactly the catalogue argv under a PTY on the node; resize and exit status', async () => {
    const c = await connectConsole(t.url, 'node-shell', { cookie, open: { cols: 100, rows: 25 } });
    await c.waitFor(PROMPT, 15_000);
    const id = c.messages.find((m) => m.type === 'started')!.sessionId as string;
    c.type('id -un; stty size\n');
    await c.waitFor(new RegExp(`${NODE_LOGIN}\\r?\\n25 100\\r?\\n\\$ $`));
    c.send({ type: 'resize', cols: 132, rows: 43 });
    c.type('stty size\n');
    await c.waitFor(/^43 132\r?$/m);
    c.type('exit 5\n');
    await c.closed;
    expect(c.messages.at(-1)).toEqual({ type: 'exit', reason: 'process exited', code: 'process_exited', exitCode: 5 });
    const row = (await t.broker.db.query(`select * from console_sessions where id = $1`, [id])).rows[0];
    expect(row).toMatchObject({ target: 'node-shell', runtime: 'ssh', node: 'app-1', exit_code: 5, image_id: null });
    const { events } = parseAsciicast(await recordingText(id));
    expect(events.filter((e) => e.code === 'o').map((e) => e.data).join('')).toBe(c.output());
    expect((await auditOf(id, 'console.opened')).certificate).toBeTruthy();
  });

  it('an admin watches a fleet console live and terminates it, as for a local one; the container on the node is removed', async () => {
    const dave = await apiSession(t, 'dave');
    const daveCookie = `sallyport=${dave.browser.cookies(t.url).get('sallyport')}`;
    const c = await connectConsole(t.url, 'fleet-shell', { cookie });
    await c.waitFor(PROMPT, 15_000);
    const id = c.sessionId();
    c.type('echo "on-""the-node"\n');
    await c.waitFor(/^on-the-node\r?$/m);
    expect((await dave.get('/api/live')).body.sessions).toEqual([expect.objectContaining({ id, target: 'fleet-shell', node: 'app-1' })]);
    const w = await watchConsole(t.url, id, { cookie: daveCookie });
    await w.waitFor(/on-the-node/);
    const r = await dave.post(`/api/sessions/${id}/terminate`, { reason: 'enough' });
    expect(r.status).toBe(200);
    await c.closed;
    expect(c.messages.find((m) => m.type === 'exit')).toMatchObject({ code: 'terminated', reason: 'terminated by dave: enough' });
    await w.closed;
    await expectNoContainers(t.broker.instanceId);
  });

  it('the node runs exactly the catalogue argv: quotes, $(…), backticks and ; stay words, never commands', async () => {
    const c = await connectConsole(t.url, 'argv-exact', { cookie });
    await c.closed;
    expect(c.output()).toBe(`[a b][$(touch ${PWNED})]['; touch ${PWNED}; '][\`touch ${PWNED}\`][say "hi"; touch ${PWNED}]`);
    expect(existsSync(PWNED)).toBe(false);
  });

  it('a target name with shell words is not a target: nothing reaches the node', async () => {
    const mark = node.log().length;
    // Refused before the socket even opens.
    await expect(connectConsole(t.url, `node-shell; touch ${PWNED}`, { cookie })).rejects.toThrow(/404/);
    expect(node.log().slice(mark)).not.toMatch(/Connection from/);
    expect(existsSync(PWNED)).toBe(false);
  });

  it('a broker killed with SIGKILL leaves no orphan on the node: the survivor ends the session and removes the container there', async () => {
    const port = await freePort();
    const prefix = `f${randomBytes(3).toString('hex')}`;
    const child = spawnCli(['serve'], replicaEnv(t, { port, databaseUrl: t.config.databaseUrl, catalog }, { SALLYPORT_SSH_CA_KEY: caText, SALLYPORT_BROKER_PREFIX: prefix, SALLYPORT_BROKER_LEASE_SECONDS: '3' }));
    try {
      const url = `http://127.0.0.1:${port}`;
      await waitFor('the replica ready', async () => ((await fetch(`${url}/readyz`).catch(() => null))?.status === 200 ? true : undefined), 40_000);
      const victim = (await t.broker.db.query(`select id from brokers where id like $1`, [`${prefix}-%`])).rows[0].id as string;
      const c = await connectConsole(url, 'fleet-shell', { cookie, origin: t.url });
      await c.waitFor(PROMPT, 15_000);
      const id = c.sessionId();
      expect(brokerContainers(victim)).toHaveLength(1);
      const mark = node.log().length;
      const closed = new Promise((r) => child.once('close', r));
      child.kill('SIGKILL');
      await closed;
      const row = await waitFor(
        'the session taken over',
        async () => (await t.broker.db.query(`select end_code from console_sessions where id = $1 and ended_at is not null`, [id])).rows[0],
        30_000,
      );
      expect(row).toEqual({ end_code: 'broker_lost' });
      await expectNoContainers(victim, 15_000);
      // The survivor went to the node for it at once (here the node's engine is also this
      // machine's, so the local listing sees the container too; on a real fleet only this one does).
      expect(node.log().slice(mark)).toMatch(/ID "sallyport reaper node=app-1"/);
    } finally {
      child.kill('SIGKILL');
    }
  }, 90_000);

  it('a partition (the node drops all traffic) ends both kinds of console within 45 s, recorded and audited; the container is reaped once the node is back', async () => {
    const docker = await connectConsole(t.url, 'fleet-shell', { cookie });
    const plain = await connectConsole(t.url, 'node-shell', { cookie });
    await docker.waitFor(PROMPT, 15_000);
    await plain.waitFor(PROMPT, 15_000);
    const ids = [docker, plain].map((c) => c.messages.find((m) => m.type === 'started')!.sessionId as string);
    await node.exec(['nft', 'add', 'table', 'inet', 'partition']);
    await node.exec(['nft', 'add', 'chain', 'inet', 'partition', 'in', '{ type filter hook input priority -200; policy drop; }']);
    const cut = Date.now();
    try {
      const ended = await Promise.all([docker.closed, plain.closed]);
      const took = Date.now() - cut;
      expect(took).toBeLessThan(47_000);
      for (const c of [docker, plain]) expect(c.messages.at(-1)).toMatchObject({ type: 'exit', code: 'node_lost', reason: 'fleet node app-1 stopped answering' });
      expect(ended.map((e) => e.code)).toEqual([1000, 1000]);
      for (const id of ids) {
        const row = (await t.broker.db.query(`select end_code, node from console_sessions where id = $1`, [id])).rows[0];
        expect(row).toEqual({ end_code: 'node_lost', node: 'app-1' });
        expect(await auditOf(id, 'console.ended')).toMatchObject({ code: 'node_lost' });
      }
      console.log(`partition noticed after ${(took / 1000).toFixed(1)} s`);
    } finally {
      await node.exec(['nft', 'delete', 'table', 'inet', 'partition']);
    }
    // The container outlived its lost connection; the broker's next passes (every second with
    // this lease) remove it once the node answers again.
    await expectNoContainers(t.broker.instanceId, 20_000);
  }, 70_000);

  it('the Fleet page shows each node to admins, reachable, with its pinned fingerprint and consoles; home says a plain process is not disposable', async () => {
    const chromium = await launchChromium();
    const c = await connectConsole(t.url, 'node-shell', { cookie });
    try {
      await c.waitFor(PROMPT, 15_000);
      const signedIn = async (username: string) => {
        const p = await (await chromium.newContext()).newPage();
        p.setDefaultTimeout(15_000);
        await p.goto(`${t.url}/`);
        await signInAs(p, t.users, username);
        await p.waitForSelector('#profile');
        return p;
      };
      const page = await signedIn('dave');
      await page.click('#nav-fleet');
      const row = page.locator('[data-node="app-1"]');
      await row.waitFor();
      expect(await row.locator('.reachability').innerText()).toBe('reachable');
      // sshd on the node runs with what node-config printed (sshd -T, over the broker's login).
      expect(await row.locator('.lockdown').innerText()).toBe('locked down (sshd -T)');
      expect(await row.locator('.fingerprint').innerText()).toBe(fingerprint(parsePublicKeyLine(node.hostKey).blob));
      expect(await row.locator('.live-consoles').innerText()).toBe('1');
      expect(await page.locator('#fleet-status').innerText()).toBe('1 of 1 node reachable');

      const alice = await signedIn('alice');
      await alice.waitForSelector('[data-target="node-shell"]');
      expect(await alice.locator('[data-target="node-shell"] .not-disposable').innerText()).toMatch(/Not disposable/);
      expect(await alice.locator('[data-target="node-shell"] .nodes').innerText()).toBe('runs on node app-1');
      expect(await alice.locator('[data-target="fleet-shell"] .not-disposable').count()).toBe(0);
      expect(await alice.locator('#nav-fleet').isHidden()).toBe(true);
    } finally {
      c.type('exit\n');
      await c.closed;
      await chromium.close();
    }
    // The API behind it is for admins only.
    const res = await fetch(`${t.url}/api/fleet`, { headers: { cookie, accept: 'application/json' } });
    expect(res.status).toBe(403);
  });

  // Last: it leaves the node with a host key the catalogue does not pin.
  it('a node whose host key changed is refused with both fingerprints, audited; no console, no login', async () => {
    const before = parsePublicKeyLine(node.hostKey).blob;
    const rotated = await node.rotateHostKey();
    const c = await connectConsole(t.url, 'node-shell', { cookie });
    await c.closed;
    expect(c.messages[0]).toMatchObject({ type: 'error', code: 'HOST_KEY_REJECTED' });
    const message = c.messages[0]!.message as string;
    expect(message).toContain('app-1');
    expect(message).toContain(fingerprint(before));
    expect(message).toContain(fingerprint(parsePublicKeyLine(rotated).blob));
    expect(node.log()).not.toMatch(/Accepted|Failed publickey/);
    const { rows } = await t.broker.db.query(`select details from audit_events where action = 'node.refused' and subject = 'app-1' and details->>'code' = 'HOST_KEY_REJECTED'`);
    // Audited: this refusal (the reaper or the lockdown check, refused the same way, may add theirs).
    expect(rows.length).toBeGreaterThanOrEqual(1);
    expect(rows.map((r) => r.details.message)).toContain(message);
  });
});

describe('what a certificate says', () => {
  it('the key id names session, user and target, with nothing from the IdP that could break the node\'s log', () => {
    expect(fleetKeyId({ sessionId: 's-1', username: 'eve" \n$(reboot)', target: 'billing' })).toBe('sallyport session=s-1 user=eve_____reboot_ target=billing');
  });
});
