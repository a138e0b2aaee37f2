// The Docker runtime against the real engine: every hardening setting is visible in
// `docker inspect`, probes inside the container fail, exit status comes back, containers are
// removed, and a missing image or a dead engine gives a clear error within 5 s, leaving nothing.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { isSallyportError } from '../server/errors.js';
import { createDockerRuntime, LABEL_BROKER, type ConsoleSpec, type ContainerSpec, type RunningConsole } from '../server/runtime/index.js';
import { brokerContainers } from './support/docker.js';

const brokerId = `test-${randomUUID().slice(0, 8)}`;
const runtime = createDockerRuntime({});
const image = inject('consoleImage');

function spec(over: Partial<ConsoleSpec> = {}, container: Partial<ContainerSpec> = {}): ConsoleSpec {
  return {
    sessionId: randomUUID(),
    target: 'shell',
    username: 'alice',
    command: ['sh'],
    env: { APP_ENV: 'test' },
    size: { cols: 100, rows: 30 },
    nodes: [],
    container: { image, user: '1000:1000', limits: { memoryBytes: 64 * 1024 ** 2, cpus: 0.5, pids: 32 }, network: 'none', ...container },
    ...over,
  };
}

function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8' }).trim();
}
const ours = () => brokerContainers(brokerId);

/** Reads console output until `pattern` shows up (or fails after `ms`). */
function until(c: RunningConsole, pattern: RegExp, ms = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (d: Buffer) => {
      seen += d.toString('utf8');
      if (pattern.test(seen)) {
        c.output.off('data', onData);
        clearTimeout(timer);
        resolve(seen);
      }
    };
    const timer = setTimeout(() => {
      c.output.off('data', onData);
      reject(new Error(`did not see ${pattern} in ${JSON.stringify(seen.slice(-500))}`));
    }, ms);
    c.output.on('data', onData);
  });
}

afterAll(() => {
  for (const id of ours()) docker('rm', '-f', id);
});

describe('a console container', () => {
  it('is hardened, as docker inspect shows', async () => {
    const c = await runtime.start(spec(), brokerId);
    try {
      const info = JSON.parse(docker('inspect', c.handle.id))[0];
      const h = info.HostConfig;
      expect(h.CapDrop).toEqual(['ALL']);
      expect(h.CapAdd ?? null).toBeNull();
      expect(h.SecurityOpt).toEqual(['no-new-privileges']);
      expect(h.Privileged).toBe(false);
      expect(h.ReadonlyRootfs).toBe(true);
      expect(Object.keys(h.Tmpfs).sort()).toEqual(['/home/app', '/tmp']);
      expect(h.PidsLimit).toBe(32);
      expect(h.Memory).toBe(64 * 1024 ** 2);
      expect(h.MemorySwap).toBe(64 * 1024 ** 2);
      expect(h.NanoCpus).toBe(5e8);
      expect(h.NetworkMode).toBe('none');
      expect(h.Binds ?? []).toEqual([]);
      expect(info.Mounts.filter((m: { Type: string }) => m.Type !== 'tmpfs')).toEqual([]);
      expect(JSON.stringify(info)).not.toContain('docker.sock');
      expect(info.Config.User).toBe('1000:1000');
      expect(info.Config.Tty).toBe(true);
      expect(h.Init).toBe(true);
      expect(info.Config.Env).toContain('LANG=C.UTF-8');
      expect(info.Config.Labels[LABEL_BROKER]).toBe(brokerId);
      expect(info.Image).toBe(c.artifactDigest);
      expect(c.artifactDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    } finally {
      await c.destroy();
    }
    expect(ours()).toEqual([]);
  });

  it('stops a runaway process on Ctrl-C, as a terminal does: the process is not PID 1', async () => {
    const c = await runtime.start(spec({ command: ['sh', '-c', 'echo looping; while :; do :; done'] }), brokerId);
    try {
      await until(c, /looping/);
      c.input.write('\x03');
      const exited = await Promise.race([c.exited, new Promise<{ exitCode: number }>((r) => setTimeout(() => r({ exitCode: -99 }), 5000))]);
      expect(exited.exitCode).toBe(130);
    } finally {
      await c.destroy();
    }
  });

  it('reads non-ASCII typed text back exactly (a UTF-8 locale by default)', async () => {
    const c = await runtime.start(spec(), brokerId);
    try {
      c.input.write('read x; printf "[%s] LANG=%s\\n" "$x" "$LANG"\r');
      await new Promise((r) => setTimeout(r, 300));
      c.input.write('grüße café Müller\r');
      await until(c, /\[grüße café Müller\] LANG=C\.UTF-8/);
    } finally {
      await c.destroy();
    }
  });

  it('runs the command as the non-root user, and probes inside fail', async () => {
    const c = await runtime.start(spec(), brokerId);
    try {
      c.input.write('stty size\n');
      await until(c, /^30 100\r?$/m);
      c.input.write('id -u; echo APP_ENV=$APP_ENV\n');
      await until(c, /^1000\r?$/m);
      // Markers are split with "" so the terminal's echo of the command cannot match them.
      c.input.write('touch /probe || echo ROOTFS""-RO\n');
      await until(c, /Read-only file system[\s\S]*ROOTFS-RO/);
      c.input.write('mount -t tmpfs none /home/app 2>&1; echo MOUNT""-RC=$?\n');
      const m = await until(c, /MOUNT-RC=\d+/);
      expect(m).not.toMatch(/MOUNT-RC=0/);
      c.input.write('echo hi > /tmp/ok && cat /tmp/ok && echo TMP""-OK\n');
      await until(c, /TMP-OK/);
    } finally {
      await c.destroy();
    }
  });

  it('keeps a fork bomb within the pids limit', async () => {
    const c = await runtime.start(spec({}, { limits: { memoryBytes: 64 * 1024 ** 2, cpus: 0.5, pids: 16 } }), brokerId);
    try {
      c.input.write('i=0; while [ $i -lt 60 ]; do sleep 30 & i=$((i+1)); done\n');
      c.input.write('echo FORK""ED\n');
      const out = await until(c, /^FORKED/m, 10_000);
      expect(out).toMatch(/can't fork|Resource temporarily unavailable/);
      const pids = Number(docker('inspect', '-f', '{{.State.Pid}}', c.handle.id));
      expect(pids).toBeGreaterThan(0);
      const running = docker('top', c.handle.id).split('\n').length - 1;
      expect(running).toBeLessThanOrEqual(16);
    } finally {
      await c.destroy();
    }
  });

  it('reports the exit status, even after longer than the API timeout, and is gone after destroy', async () => {
    const quick = createDockerRuntime({ timeoutMs: 1000 });
    const c = await quick.start(spec(), brokerId);
    await new Promise((r) => setTimeout(r, 2500));
    c.input.write('exit 3\n');
    expect(await c.exited).toEqual({ exitCode: 3 });
    await c.destroy();
    await c.destroy();
    expect(ours()).toEqual([]);
  });
});

describe('failures', () => {
  it('a missing image is a clear error within 5 s and leaves nothing behind', async () => {
    const started = Date.now();
    const err = await runtime.start(spec({}, { image: 'sallyport-test/does-not-exist:1' }), brokerId).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(isSallyportError(err, 'IMAGE_NOT_FOUND')).toBe(true);
    expect((err as Error).message).toMatch(/does-not-exist:1 is not present/);
    expect(ours()).toEqual([]);
  });

  it('names an image ID written as a repository digest, which looks pinned but no registry serves', async () => {
    const id = execFileSync('docker', ['image', 'inspect', '-f', '{{.Id}}', image], { encoding: 'utf8' }).trim();
    const err = await runtime.start(spec({}, { image: `sallyport-test/console@${id}` }), brokerId).catch((e: unknown) => e);
    expect(isSallyportError(err, 'IMAGE_NOT_FOUND')).toBe(true);
    expect((err as Error).message).toContain(`${id} is this engine's image ID, written as a repository digest: write image: ${id}`);
    expect(ours()).toEqual([]);
  });

  it('an unreachable engine is a clear error within 5 s', async () => {
    const dead = createDockerRuntime({ dockerHost: 'unix:///nonexistent/docker.sock', timeoutMs: 2000 });
    const started = Date.now();
    const err = await dead.start(spec(), brokerId).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(isSallyportError(err, 'RUNTIME_UNAVAILABLE')).toBe(true);
  });
});

describe('a hung engine', () => {
  // A fake, said so: a socket that accepts and never answers, the one engine fault we cannot
  // cause for real on a healthy dockerd.
  it('is a clear error within the API timeout, not a console that never starts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sallyport-hung-'));
    const path = join(dir, 'docker.sock');
    const held: Socket[] = [];
    const server = createServer((s) => void held.push(s)).listen(path);
    await new Promise((r) => server.once('listening', r));
    try {
      const hung = createDockerRuntime({ dockerHost: `unix://${path}`, timeoutMs: 2000 });
      const started = Date.now();
      const err = await hung.start(spec(), brokerId).catch((e: unknown) => e);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(isSallyportError(err, 'RUNTIME_UNAVAILABLE')).toBe(true);
      await expect(hung.list()).rejects.toMatchObject({ code: 'RUNTIME_UNAVAILABLE' });
    } finally {
      for (const s of held) s.destroy();
      server.close();
    }
  });
});

describe('what the runtime holds', () => {
  it('lists every Sallyport console with its broker and session, and removes one by its handle', async () => {
    const mine = spec();
    const theirs = spec();
    const a = await runtime.start(mine, brokerId);
    const b = await runtime.start(theirs, `${brokerId}-other`);
    try {
      const held = await runtime.list();
      expect(held).toContainEqual({ handle: { runtime: 'docker', node: 'local', id: a.handle.id }, brokerId, sessionId: mine.sessionId, deployment: null });
      expect(held).toContainEqual({ handle: { runtime: 'docker', node: 'local', id: b.handle.id }, brokerId: `${brokerId}-other`, sessionId: theirs.sessionId, deployment: null });
      await runtime.remove(a.handle);
      await runtime.remove(a.handle); // already gone: not an error
      expect(ours()).toEqual([]);
      expect(docker('ps', '-aq', '--filter', `id=${b.handle.id}`)).not.toBe('');
    } finally {
      await Promise.all([a.destroy(), b.destroy()]);
    }
  });
});
