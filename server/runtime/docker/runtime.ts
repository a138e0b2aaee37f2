// Docker Engine runtime: one hardened, labelled container per console session, spoken to over
// the Engine API (unix socket, or DOCKER_HOST) through dockerode. Nothing here decides who may
// run what; it runs exactly the spec it is given, locked down.
import Docker from 'dockerode';
import { PassThrough } from 'node:stream';
import { SallyportError } from '../../errors.js';
import { dialStdioAgent } from '../fleet/docker-engine.js';
import { mapBounded, NODES_AT_ONCE } from '../fleet/bounded.js';
import { fleetKeyId, type FleetPool } from '../fleet/pool.js';
import type { ConsoleSpec, HeldConsole, RunningConsole, Runtime } from '../types.js';

export const LABEL_BROKER = 'io.sallyport.broker';
export const LABEL_SESSION = 'io.sallyport.session';
export const LABEL_TARGET = 'io.sallyport.target';
/** The deployment (db/deployment.ts) whose broker started the container: only it may remove it. */
export const LABEL_DEPLOYMENT = 'io.sallyport.deployment';

export interface DockerRuntimeOptions {
  /** DOCKER_HOST-style address; default: the local socket. */
  dockerHost?: string;
  /** TLS to a tcp:// engine: its CA, and this broker's client certificate and key (PEM). */
  dockerTls?: { ca: string; cert: string; key: string };
  /** Engine API call timeout; a dead engine is reported within this. */
  timeoutMs?: number;
  /** The node name recorded with each console (default `local`). */
  node?: string;
  /** Size of the writable /tmp (and HOME) tmpfs. */
  tmpfsBytes?: number;
  /** Fleet nodes, for targets that name them; without it only the broker's engine is used. */
  fleet?: FleetPool;
  /** Fleet nodes are listed for reaping at most this often (each listing is an SSH login). */
  fleetListEveryMs?: number;
  /** This broker's deployment identity, put on every container it starts. */
  deployment?: string;
}

/** One engine a console runs on: the broker's own, or a fleet node's over SSH. */
interface Engine {
  docker: Docker;
  /** attach and wait live as long as the console: no request timeout for those two. */
  longLived: Docker;
  node: string;
  credential?: RunningConsole['credential'];
  /** Resolves when the engine's connection is lost (a fleet node's SSH connection). */
  lost?: Promise<void>;
  close(): void;
}

export function createDockerRuntime(options: DockerRuntimeOptions): Runtime {
  const timeout = options.timeoutMs ?? 5_000;
  const local: Engine = {
    docker: new Docker({ ...dockerConnection(options.dockerHost, options.dockerTls), timeout }),
    longLived: new Docker(dockerConnection(options.dockerHost, options.dockerTls)),
    node: options.node ?? 'local',
    close: () => {},
  };
  const tmpfs = `rw,nosuid,nodev,noexec,size=${options.tmpfsBytes ?? 64 * 1024 * 1024}`;
  const fleet = options.fleet;

  const nodeEngine = async (connect: () => ReturnType<FleetPool['connectTo']>): Promise<Engine> => {
    const conn = await connect();
    const agent = dialStdioAgent(conn);
    // host/port only name the engine in request lines: every byte goes through the agent.
    const over = { protocol: 'http' as const, host: conn.node.name, port: 2375, agent };
    const lost = new Promise<void>((resolve) => conn.client.once('close', () => resolve()));
    return { docker: new Docker({ ...over, timeout }), longLived: new Docker(over), node: conn.node.name, credential: conn.certificate, lost, close: () => conn.close() };
  };
  const engineFor = (spec: ConsoleSpec): Promise<Engine> => {
    if (spec.nodes.length === 0) return Promise.resolve(local);
    if (!fleet) return Promise.reject(new SallyportError('RUNTIME_UNAVAILABLE', `${spec.target}: fleet nodes are not configured on this broker`));
    return nodeEngine(() => fleet.connect(spec.nodes, fleetKeyId(spec)));
  };
  let fleetListedAt = 0;
  /** Nodes where a console's container could not be removed (the node was away): listed every pass. */
  const unreaped = new Set<string>();

  return {
    name: 'docker',

    async start(spec, brokerId) {
      const c = spec.container;
      if (!c) throw new SallyportError('INTERNAL', `${spec.target}: a docker console needs an image`);
      const engine = await engineFor(spec);
      try {
        return await startOn(engine, spec, c, brokerId);
      } catch (err) {
        engine.close();
        throw err;
      }
    },

    async list(o) {
      const held = await listOn(local);
      // Each fleet listing is an SSH login per node: not on every pass.
      if (fleet) {
        const due = o?.everywhere === true || Date.now() - fleetListedAt >= (options.fleetListEveryMs ?? 30_000);
        if (due) fleetListedAt = Date.now();
        const lists = await mapBounded(fleet.nodes().filter((n) => due || unreaped.has(n.name)), NODES_AT_ONCE, async (node) => {
          let engine: Engine | undefined;
          try {
            engine = await nodeEngine(() => fleet.connectTo(node.name, `sallyport reaper node=${node.name}`));
            const found = await listOn(engine);
            unreaped.delete(node.name);
            return found;
          } catch {
            // An unreachable node is listed on a later pass; its health shows on the Fleet page.
            return [];
          } finally {
            engine?.close();
          }
        });
        held.push(...lists.flat());
      }
      return held;
    },

    async attach(handle, size) {
      let engine: Engine;
      if (handle.node === local.node) engine = local;
      else if (!fleet) throw new SallyportError('RUNTIME_UNAVAILABLE', `node ${handle.node}: fleet nodes are not configured on this broker`);
      else engine = await nodeEngine(() => fleet.connectTo(handle.node, `sallyport carry node=${handle.node}`));
      try {
        const container = engine.docker.getContainer(handle.id);
        const info = await container.inspect();
        return await attachTo(engine, container, info.Image, size, 'join');
      } catch (err) {
        engine.close();
        throw engineError(err, '', handle.node);
      }
    },

    async remove(handle) {
      if (handle.node === local.node) return removeOn(local, handle.id);
      if (!fleet) throw new SallyportError('RUNTIME_UNAVAILABLE', `node ${handle.node}: fleet nodes are not configured on this broker`);
      const engine = await nodeEngine(() => fleet.connectTo(handle.node, `sallyport reaper node=${handle.node}`));
      try {
        await removeOn(engine, handle.id);
      } finally {
        engine.close();
      }
    },
  };

  async function startOn(engine: Engine, spec: ConsoleSpec, c: NonNullable<ConsoleSpec['container']>, brokerId: string): Promise<RunningConsole> {
    const { docker, node } = engine;
    let image: Docker.ImageInspectInfo;
    try {
      image = await docker.getImage(c.image).inspect();
    } catch (err) {
      const e = engineError(err, c.image, node);
      const lookalike = e.code === 'IMAGE_NOT_FOUND' ? await imageIdAsDigest(docker, c.image) : undefined;
      throw lookalike ? new SallyportError('IMAGE_NOT_FOUND', `${e.message}: ${lookalike}`, { cause: err }) : e;
    }
    const home = image.Config?.Env?.find((e) => e.startsWith('HOME='))?.slice(5);
    const mounts: Record<string, string> = { '/tmp': tmpfs };
    // A writable HOME for shells and REPL history, owned by the console's user (numeric ids only).
    const [uid, gid] = (c.user ?? '').split(':');
    const owner = uid && /^\d+$/.test(uid) ? `,uid=${uid}${gid && /^\d+$/.test(gid) ? `,gid=${gid}` : ''}` : '';
    if (home && home !== '/' && home !== '/tmp') mounts[home] = tmpfs.replace('noexec,', '') + owner;
    // The catalogue's writable directories: empty, the user's, never executable.
    for (const dir of c.writable ?? []) mounts[dir] = tmpfs + owner;

    let container: Docker.Container;
    try {
      container = await docker.createContainer({
        name: `sallyport-${spec.sessionId}`,
        Image: image.Id,
        Cmd: [...spec.command],
        // A UTF-8 locale unless the catalogue sets one: without LANG, php -a and others drop every
        // non-ASCII character typed ("grüße" arrives as "gre").
        Env: Object.entries({ ...(spec.env.LANG === undefined && spec.env.LC_ALL === undefined ? { LANG: 'C.UTF-8' } : {}), ...spec.env }).map(([k, v]) => `${k}=${v}`),
        User: c.user ?? '',
        WorkingDir: c.workdir ?? '',
        Tty: true,
        OpenStdin: true,
        StdinOnce: false,
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        Labels: {
          [LABEL_BROKER]: brokerId,
          [LABEL_SESSION]: spec.sessionId,
          [LABEL_TARGET]: spec.target,
          ...(options.deployment ? { [LABEL_DEPLOYMENT]: options.deployment } : {}),
        },
        HostConfig: {
          CapDrop: ['ALL'],
          SecurityOpt: ['no-new-privileges'],
          Privileged: false,
          ReadonlyRootfs: true,
          Tmpfs: mounts,
          PidsLimit: c.limits.pids,
          Memory: c.limits.memoryBytes,
          // Equal to Memory: no swap beyond the limit.
          MemorySwap: c.limits.memoryBytes,
          NanoCpus: Math.round(c.limits.cpus * 1e9),
          NetworkMode: c.network,
          IpcMode: 'private',
          Binds: [],
          AutoRemove: false,
          // An init (docker-init) as PID 1: the console's process is not PID 1, so Ctrl-C's SIGINT
          // reaches it with its default action (PID 1 ignores signals it has no handler for).
          Init: true,
          LogConfig: { Type: 'none', Config: {} },
          ConsoleSize: [spec.size.rows, spec.size.cols],
        },
      });
    } catch (err) {
      throw engineError(err, c.image, node);
    }

    return attachTo(engine, container, image.Id, spec.size, 'start').catch((err: unknown) => {
      throw engineError(err, c.image, node);
    });
  }

  /**
   * Attaches to a container, then starts it (a new console; attached first, so not a byte it
   * prints is missed) or leaves it running (one another broker holds, for a handover).
   */
  async function attachTo(engine: Engine, container: Docker.Container, artifactDigest: string, size: { cols: number; rows: number }, then: 'start' | 'join'): Promise<RunningConsole> {
    const { longLived, node } = engine;
    // The attach connection and its pipe: destroyed first on every end, or a client that stopped
    // reading leaves dockerd blocked writing to it, and the removal (and inspect) hang with it.
    const attached: { stream?: NodeJS.ReadWriteStream & PassThrough; output?: PassThrough } = {};
    const drop = () => {
      if (attached.output) attached.stream?.unpipe(attached.output);
      attached.stream?.destroy();
      attached.output?.destroy();
    };
    const destroy = once(async () => {
      drop();
      try {
        await container.remove({ force: true, v: true }).catch((err: { statusCode?: number }) => {
          if (err.statusCode !== 404) throw err;
        });
      } catch (err) {
        // The reaper removes it once the node answers again (see list()).
        if (engine !== local) unreaped.add(node);
        throw err;
      } finally {
        engine.close();
      }
    });
    try {
      const live = longLived.getContainer(container.id);
      const stream = (await live.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as NodeJS.ReadWriteStream &
        PassThrough;
      attached.stream = stream;
      // next-exit: the default (not-running) would answer at once for a container not yet started.
      const waited = live.wait({ condition: 'next-exit' }).then(
        (r: { StatusCode: number }) => ({ exitCode: r.StatusCode }),
        () => ({ exitCode: -1 }),
      );
      // A fleet node's connection lost first (keepalive, partition) is not an exit.
      const exited: RunningConsole['exited'] = engine.lost
        ? Promise.race([waited, engine.lost.then(() => ({ exitCode: -1, lostNode: node }))])
        : waited;
      if (then === 'start') {
        await container.start();
        // ConsoleSize at create needs Engine API 1.42; set the size explicitly for older engines.
        await container.resize({ w: size.cols, h: size.rows }).catch(() => {});
      }
      const output = new PassThrough({ highWaterMark: 64 * 1024 });
      attached.output = output;
      // pipe() pauses the engine's socket when `output` is not being read: backpressure
      // reaches the container's TTY instead of piling up in the broker.
      stream.pipe(output);
      return {
        handle: { runtime: 'docker', node, id: container.id },
        artifactDigest,
        credential: engine.credential,
        output,
        input: stream,
        async resize(cols, rows) {
          await container.resize({ w: cols, h: rows }).catch(() => {});
        },
        exited,
        destroy,
        leave() {
          drop();
          engine.close();
        },
        async freeze() {
          await container.pause();
        },
        async thaw() {
          await container.unpause().catch((err: { statusCode?: number }) => {
            // Not paused (any more): it runs, which is what was asked.
            if (err.statusCode !== 409 && err.statusCode !== 500) throw err;
          });
        },
      } satisfies RunningConsole;
    } catch (err) {
      // A console this broker joined is another's until handed over: never removed from here.
      if (then === 'start') await destroy().catch(() => {});
      else {
        drop();
        engine.close();
      }
      throw err;
    }
  }
}

async function listOn(engine: Engine): Promise<HeldConsole[]> {
  let list: Docker.ContainerInfo[];
  try {
    list = await engine.docker.listContainers({ all: true, filters: { label: [LABEL_BROKER] } });
  } catch (err) {
    throw engineError(err, '', engine.node);
  }
  return list.map((c) => ({
    handle: { runtime: 'docker', node: engine.node, id: c.Id },
    brokerId: c.Labels[LABEL_BROKER] ?? '',
    sessionId: c.Labels[LABEL_SESSION] ?? '',
    deployment: c.Labels[LABEL_DEPLOYMENT] ?? null,
  }));
}

async function removeOn(engine: Engine, id: string): Promise<void> {
  await engine.docker
    .getContainer(id)
    .remove({ force: true, v: true })
    .catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 404) throw engineError(err, '', engine.node);
    });
}

function dockerConnection(host: string | undefined, tls: DockerRuntimeOptions['dockerTls']): Docker.DockerOptions {
  if (!host) return { socketPath: '/var/run/docker.sock' };
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  const u = new URL(host.replace(/^tcp:/, 'http:'));
  // With TLS (the docker CLI's DOCKER_TLS_VERIFY): verify the engine against the CA, present
  // this broker's certificate; 2376 is the TLS port, as for the CLI.
  if (tls) return { host: u.hostname, port: Number(u.port || 2376), protocol: 'https', ca: tls.ca, cert: tls.cert, key: tls.key };
  return { host: u.hostname, port: Number(u.port || 2375), protocol: u.protocol === 'https:' ? 'https' : 'http' };
}

/**
 * Whether the engine can run an image reference as the catalogue writes it, for `catalog check
 * --engine`: a reference the engine cannot resolve fails at open, in front of a user, otherwise.
 */
export async function resolveImage(ref: string, engine: Pick<DockerRuntimeOptions, 'dockerHost' | 'dockerTls'>): Promise<{ ok: true; id: string } | { ok: false; why: string }> {
  const docker = new Docker({ ...dockerConnection(engine.dockerHost, engine.dockerTls), timeout: 5000 });
  try {
    return { ok: true, id: (await docker.getImage(ref).inspect()).Id };
  } catch (err) {
    const e = engineError(err, ref, 'local');
    if (e.code !== 'IMAGE_NOT_FOUND') return { ok: false, why: e.message };
    const why = (await imageIdAsDigest(docker, ref)) ?? `the container engine has no image ${ref}: pull it (or push it to the registry the engine pulls from) before consoles open`;
    return { ok: false, why };
  }
}

/**
 * The one look-alike named apart from a missing image: a local image ID written as a repository
 * digest (`name@sha256:<image id>`), which looks pinned but names a manifest no registry has.
 */
async function imageIdAsDigest(docker: Docker, ref: string): Promise<string | undefined> {
  const digest = /@(sha256:[0-9a-f]{64})$/.exec(ref)?.[1];
  if (!digest) return undefined;
  const isId = await docker
    .getImage(digest)
    .inspect()
    .then((i) => i.Id === digest, () => false);
  return isId ? `${digest} is this engine's image ID, written as a repository digest: write image: ${digest}, or pin the digest the registry has (docker image inspect: RepoDigests)` : undefined;
}

function engineError(err: unknown, image: string, node: string): SallyportError {
  if (err instanceof SallyportError) return err;
  const e = err as { statusCode?: number; code?: string; message?: string };
  const where = node === 'local' ? 'the container engine' : `the container engine on node ${node}`;
  if (e.statusCode === 404 && image) {
    return new SallyportError('IMAGE_NOT_FOUND', `image ${image} is not present on ${where}`, { cause: err });
  }
  return new SallyportError('RUNTIME_UNAVAILABLE', `${where} cannot be reached or refused the request (${e.code ?? e.statusCode ?? 'error'})`, {
    cause: err,
  });
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}
