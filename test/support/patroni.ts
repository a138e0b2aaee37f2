// A highly available PostgreSQL of the test's own, the standard way: one etcd, two PostgreSQL 15
// members run by Patroni (synchronous mode, so a switchover loses no commit), and HAProxy in
// front routing to whichever member Patroni's REST API says is primary — what brokers connect
// to. Everything on loopback, on free ports, in a temporary directory; PostgreSQL and Patroni run
// as the postgres user (initdb refuses root). `stop()` ends every process and removes the files.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../../server/dev/index.js';
import { waitFor } from './process.js';

export interface PatroniCluster {
  /** Through HAProxy: always the current primary. */
  url: string;
  /** The member that is primary now (by Patroni's REST API). */
  leader(): Promise<string>;
  /** A planned switchover to the other member; resolves once it is primary behind HAProxy. */
  switchover(): Promise<{ from: string; to: string }>;
  /** SIGKILL of the primary's postmaster (Patroni brings it back or fails over). */
  killLeaderPostmaster(): Promise<string>;
  /** Resolves once a primary answers writes through HAProxy again. */
  writable(ms?: number): Promise<void>;
  stop(): Promise<void>;
}

interface Member {
  name: string;
  rest: number;
  pgPort: number;
  dataDir: string;
  config: string;
  proc?: ChildProcess;
}

const BIN = '/usr/lib/postgresql/15/bin';

export async function startPatroniCluster(): Promise<PatroniCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'sallyport-patroni-'));
  const asRoot = userInfo().uid === 0;
  const pgUid = asRoot ? Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })) : userInfo().uid;
  const pgGid = asRoot ? Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })) : userInfo().gid;
  chownSync(dir, pgUid, pgGid);
  const procs: ChildProcess[] = [];
  const logs: Record<string, string> = {};
  const run = (name: string, cmd: string, args: string[], asPostgres = false) => {
    const argv = asPostgres && asRoot ? ['runuser', '-u', 'postgres', '--', cmd, ...args] : [cmd, ...args];
    const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: false });
    logs[name] = '';
    const keep = (d: Buffer) => (logs[name] = `${logs[name] ?? ''}${d}`.slice(-8000));
    p.stdout!.on('data', keep);
    p.stderr!.on('data', keep);
    procs.push(p);
    return p;
  };
  const scope = `sallyport-${process.pid}-${Date.now().toString(36)}`;
  const [etcdClient, etcdPeer, haproxyPort] = [await freePort(), await freePort(), await freePort()];

  run('etcd', 'etcd', [
    '--name', 'e1',
    '--data-dir', join(dir, 'etcd'),
    '--listen-client-urls', `http://127.0.0.1:${etcdClient}`,
    '--advertise-client-urls', `http://127.0.0.1:${etcdClient}`,
    '--listen-peer-urls', `http://127.0.0.1:${etcdPeer}`,
    '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeer}`,
    '--initial-cluster', `e1=http://127.0.0.1:${etcdPeer}`,
    '--enable-v2=true',
  ]);
  await waitFor('etcd', async () => ((await fetch(`http://127.0.0.1:${etcdClient}/health`).catch(() => null))?.ok ? true : undefined), 20_000);

  const members: Member[] = [];
  for (const name of ['pg1', 'pg2']) {
    const m: Member = { name, rest: await freePort(), pgPort: await freePort(), dataDir: join(dir, name), config: join(dir, `${name}.yml`) };
    mkdirSync(m.dataDir, { mode: 0o700 });
    chownSync(m.dataDir, pgUid, pgGid);
    writeFileSync(
      m.config,
      `scope: ${scope}
namespace: /sallyport-test/
name: ${name}
restapi:
  listen: 127.0.0.1:${m.rest}
  connect_address: 127.0.0.1:${m.rest}
etcd3:
  hosts: 127.0.0.1:${etcdClient}
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 4
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      parameters:
        wal_level: replica
        hot_standby: 'on'
        max_wal_senders: 5
        max_replication_slots: 5
        wal_log_hints: 'on'
  initdb:
    - encoding: UTF8
    - auth: trust
  pg_hba:
    - local all all trust
    - host replication replicator 127.0.0.1/32 trust
    - host all all 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:${m.pgPort}
  connect_address: 127.0.0.1:${m.pgPort}
  data_dir: ${m.dataDir}
  bin_dir: ${BIN}
  pgpass: ${join(dir, `${name}.pgpass`)}
  authentication:
    superuser: { username: postgres, password: postgres }
    replication: { username: replicator, password: replicator }
    rewind: { username: postgres, password: postgres }
  parameters:
    unix_socket_directories: '${dir}'
    max_connections: 200
`,
    );
    chownSync(m.config, pgUid, pgGid);
    members.push(m);
  }
  const start = (m: Member) => (m.proc = run(m.name, 'patroni', [m.config], true));
  start(members[0]!);
  const role = async (m: Member): Promise<'primary' | 'replica' | undefined> => {
    if ((await fetch(`http://127.0.0.1:${m.rest}/primary`).catch(() => null))?.status === 200) return 'primary';
    if ((await fetch(`http://127.0.0.1:${m.rest}/replica`).catch(() => null))?.status === 200) return 'replica';
    return undefined;
  };
  const describe = () => Object.entries(logs).map(([k, v]) => `--- ${k}\n${v.slice(-2000)}`).join('\n');
  try {
    await waitFor('the first member primary', async () => ((await role(members[0]!)) === 'primary' ? true : undefined), 60_000);
    start(members[1]!);
    await waitFor('the second member a streaming replica', async () => ((await role(members[1]!)) === 'replica' ? true : undefined), 90_000);
    // Synchronous mode: a commit waits for it; until it is the sync standby, no switchover either.
    await waitFor('the replica the synchronous standby', async () => ((await fetch(`http://127.0.0.1:${members[1]!.rest}/sync`).catch(() => null))?.status === 200 ? true : undefined), 60_000);
  } catch (err) {
    await stopAll();
    throw new Error(`${(err as Error).message}\n${describe()}`);
  }

  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(
    cfg,
    `global
  maxconn 400
defaults
  mode tcp
  timeout connect 2s
  timeout client 30m
  timeout server 30m
  timeout check 3s
listen primary
  bind 127.0.0.1:${haproxyPort}
  option httpchk OPTIONS /primary
  http-check expect status 200
  # Tolerant of a slow answer on a loaded machine: a primary that answered one check late must
  # not be marked down and have its sessions cut (a broker's migration was, once).
  default-server inter 1s fall 3 rise 2 on-marked-down shutdown-sessions
${members.map((m) => `  server ${m.name} 127.0.0.1:${m.pgPort} maxconn 200 check port ${m.rest}`).join('\n')}
`,
  );
  run('haproxy', 'haproxy', ['-f', cfg, '-db']);
  const url = `postgres://postgres:postgres@127.0.0.1:${haproxyPort}/postgres`;

  const writable = async (ms = 60_000) => {
    await waitFor(
      'a writable primary behind HAProxy',
      async () => {
        const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
        try {
          await c.connect();
          const { rows } = await c.query('select pg_is_in_recovery() as r');
          return rows[0].r === false ? true : undefined;
        } catch {
          return undefined;
        } finally {
          await c.end().catch(() => {});
        }
      },
      ms,
    );
  };
  try {
    await writable(30_000);
    // Still the same primary a moment later: HAProxy's view has settled.
    await new Promise((r) => setTimeout(r, 2000));
    await writable(30_000);
  } catch (err) {
    await stopAll();
    throw new Error(`${(err as Error).message}\n${describe()}`);
  }

  const leaderMember = async (): Promise<Member> => {
    for (const m of members) if ((await role(m)) === 'primary') return m;
    throw new Error(`no primary now\n${describe()}`);
  };

  async function stopAll(): Promise<void> {
    for (const p of procs.reverse()) {
      if (p.exitCode !== null || p.signalCode !== null) continue;
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 10_000))]);
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
    // A postmaster Patroni left behind (it was killed first) must not outlive the test.
    for (const m of members) {
      try {
        const pid = Number(readFileSync(join(m.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
        if (pid > 0) process.kill(pid, 'SIGKILL');
      } catch {
        // Not running.
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }

  return {
    url,
    leader: async () => (await leaderMember()).name,
    async switchover() {
      const from = await leaderMember();
      const to = members.find((m) => m !== from)!;
      const res = await fetch(`http://127.0.0.1:${from.rest}/switchover`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ leader: from.name, candidate: to.name }) });
      if (res.status !== 200) throw new Error(`switchover refused: ${res.status} ${await res.text()}`);
      await waitFor('the candidate primary', async () => ((await role(to)) === 'primary' ? true : undefined), 60_000);
      await writable();
      // Back to two members in sync, so the next fault loses nothing either.
      await waitFor('the old primary the synchronous standby', async () => ((await fetch(`http://127.0.0.1:${from.rest}/sync`).catch(() => null))?.status === 200 ? true : undefined), 60_000);
      return { from: from.name, to: to.name };
    },
    async killLeaderPostmaster() {
      const m = await leaderMember();
      const pid = Number(readFileSync(join(m.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      process.kill(pid, 'SIGKILL');
      return m.name;
    },
    writable,
    stop: stopAll,
  };
}
