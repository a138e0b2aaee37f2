// A real S3 server of the test's own: Ceph's radosgw (Debian's ceph 16.2) on loopback, over one
// monitor and one OSD that keeps objects in memory (memstore), with authentication between the
// daemons off and one S3 user with fixed keys. Ready in about two seconds; stop() kills it and
// removes its directory. (docs/MACHINE.md-style notes: ms_mon_client_mode = crc or radosgw loops
// on -13; paxos_propose_interval keeps pool creation fast; addresses pinned to 127.0.0.1.)
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../server/dev/index.js';
import { waitFor } from './process.js';

export interface S3Server {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The process environment a broker needs to store recordings here, in `bucket`. */
  env(bucket: string): Record<string, string>;
  stop(): void;
}

/**
 * Started afresh if it is not serving within 30 s: a monitor still in its first election has
 * been seen to refuse the OSD's registration ("wrong fsid"), leaving no OSD up.
 */
export async function startS3(): Promise<S3Server> {
  try {
    return await startS3Once();
  } catch {
    return startS3Once();
  }
}

async function startS3Once(): Promise<S3Server> {
  const dir = mkdtempSync(join(tmpdir(), 'sallyport-s3-'));
  const [mon, rgw] = [await freePort(), await freePort()];
  const fsid = randomUUID();
  for (const d of ['run', 'log', 'mon', 'osd/ceph-0', 'rgw']) mkdirSync(join(dir, d), { recursive: true });
  const conf = join(dir, 'ceph.conf');
  writeFileSync(
    conf,
    `[global]
fsid = ${fsid}
mon_host = v1:127.0.0.1:${mon}
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_mon_client_mode = crc
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
paxos_propose_interval = 0.05
osd_objectstore = memstore
osd_crush_chooseleaf_type = 0
mon_warn_on_pool_no_redundancy = false
run_dir = ${dir}/run
admin_socket = ${dir}/run/$name.asok
log_file = ${dir}/log/$name.log
mon_data = ${dir}/mon/$cluster-$id
osd_data = ${dir}/osd/$cluster-$id
keyring = /dev/null
[client.rgw.test]
rgw_frontends = beast endpoint=127.0.0.1:${rgw}
rgw_data = ${dir}/rgw
`,
  );
  // A clean environment: the daemons read nothing of the test's.
  const cleanEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const run = (cmd: string, args: string[]) => execFileSync(cmd, ['-c', conf, ...args], { cwd: dir, env: cleanEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  const daemons: ChildProcess[] = [];
  const daemon = (cmd: string, args: string[]) => daemons.push(spawn(cmd, ['-c', conf, '-f', ...args], { cwd: dir, env: cleanEnv, stdio: 'ignore' }));
  const stop = () => {
    // radosgw first, then the OSD, then the monitor (all at once can hang radosgw).
    for (const d of [...daemons].reverse()) d.kill('SIGKILL');
    if (!process.env.KEEP_S3) rmSync(dir, { recursive: true, force: true });
  };
  try {
    run('monmaptool', ['--create', '--addv', 'a', `[v1:127.0.0.1:${mon}]`, '--fsid', fsid, join(dir, 'monmap')]);
    run('ceph-mon', ['--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap')]);
    daemon('ceph-mon', ['-i', 'a']);
    // The monitor in quorum (its first election done) before anything registers with it.
    await waitFor('the monitor in quorum', async () => (/"quorum_names":\["a"\]/.test(run('ceph', ['quorum_status', '--connect-timeout', '5'])) ? true : undefined), 20_000);
    const osd = randomUUID();
    run('ceph', ['osd', 'new', osd]);
    run('ceph-osd', ['--mkfs', '-i', '0', '--osd-uuid', osd]);
    daemon('ceph-osd', ['-i', '0']);
    await waitFor('the OSD up', async () => (/1 up/.test(run('ceph', ['osd', 'stat', '--connect-timeout', '5'])) ? true : undefined), 20_000);
    daemon('radosgw', ['-n', 'client.rgw.test']);
    const accessKeyId = `AK${randomBytes(8).toString('hex').toUpperCase()}`;
    const secretAccessKey = randomBytes(20).toString('hex');
    run('radosgw-admin', ['user', 'create', '--uid=sallyport', '--display-name=sallyport', `--access-key=${accessKeyId}`, `--secret=${secretAccessKey}`]);
    const endpoint = `http://127.0.0.1:${rgw}`;
    await waitFor('radosgw to answer', async () => ((await fetch(endpoint).catch(() => null))?.status === 200 ? true : undefined), 60_000);
    return {
      endpoint,
      accessKeyId,
      secretAccessKey,
      env: (bucket) => ({
        SALLYPORT_RECORDING_STORE: 's3',
        SALLYPORT_S3_ENDPOINT: endpoint,
        SALLYPORT_S3_BUCKET: bucket,
        SALLYPORT_S3_ACCESS_KEY_ID: accessKeyId,
        SALLYPORT_S3_SECRET_ACCESS_KEY: secretAccessKey,
      }),
      stop,
    };
  } catch (err) {
    const logs = ['mon.a', 'osd.0', 'client.rgw.test'].map((n) => {
      try {
        return `${n}: ${execFileSync('tail', ['-n', '8', join(dir, 'log', `${n}.log`)], { encoding: 'utf8' })}`;
      } catch {
        return `${n}: no log`;
      }
    });
    stop();
    throw new Error(`${(err as Error).message}\n${logs.join('\n')}`, { cause: err });
  }
}
