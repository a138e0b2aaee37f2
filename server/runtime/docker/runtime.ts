// Docker Engine runtime: one hardened, labelled container per console session, spoken to over
// the Engine API (unix socket, or DOCKER_HOST) through dockerode. Nothing here decides who may
// run what; it runs exactly the spec it is given, locked down.
import Docker from 'dockerode';
import { PassThrough } from 'node:stream';
import { SallyportError } from '../../errors.js';
import type { RunningConsole, Runtime } from '../types.js';

export const LABEL_BROKER = 'io.sallyport.broker';
export const LABEL_SESSION = 'io.sallyport.session';
export const LABEL_TARGET = 'io.sallyport.target';

export interface DockerRuntimeOptions {
  /** DOCKER_HOST-style address; default: the local socket. */
  dockerHost?: string;
  /** Engine API call timeout; a dead engine is reported within this. */
  timeoutMs?: number;
  /** The node name recorded with each console (default `local`). */
  node?: string;
  /** Size of the writable /tmp (and HOME) tmpfs. */
  tmpfsBytes?: number;
}

export function createDockerRuntime(options: DockerRuntimeOptions): Runtime {
  const timeout = options.timeoutMs ?? 5_000;
  const docker = new Docker({ ...dockerConnection(options.dockerHost), timeout });
  // attach and wait live as long as the console: no request timeout for those two.
  const longLived = new Docker(dockerConnection(options.dockerHost));
  // Named once the fleet runtime brings remote engines; this one is the broker's own.
  const node = options.node ?? 'local';
  const tmpfs = `rw,nosuid,nodev,noexec,size=${options.tmpfsBytes ?? 64 * 1024 * 1024}`;

  return {
    name: 'docker',

    async start(spec, brokerId) {
      let image: Docker.ImageInspectInfo;
      try {
        image = await docker.getImage(spec.image).inspect();
      } catch (err) {
        throw engineError(err, spec.image);
      }
      const home = image.Config?.Env?.find((e) => e.startsWith('HOME='))?.slice(5);
      const mounts: Record<string, string> = { '/tmp': tmpfs };
      // A writable HOME for shells and REPL history, owned by the console's user (numeric ids only).
      const [uid, gid] = (spec.user ?? '').split(':');
      const owner = uid && /^\d+$/.test(uid) ? `,uid=${uid}${gid && /^\d+$/.test(gid) ? `,gid=${gid}` : ''}` : '';
      if (home && home !== '/' && home !== '/tmp') mounts[home] = tmpfs.replace('noexec,', '') + owner;

      let container: Docker.Container;
      try {
        container = await docker.createContainer({
          name: `sallyport-${spec.sessionId}`,
          Image: image.Id,
          Cmd: [...spec.command],
          Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
          User: spec.user ?? '',
          WorkingDir: spec.workdir ?? '',
          Tty: true,
          OpenStdin: true,
          StdinOnce: false,
          AttachStdin: true,
          AttachStdout: true,
          AttachStderr: true,
          Labels: { [LABEL_BROKER]: brokerId, [LABEL_SESSION]: spec.sessionId, [LABEL_TARGET]: spec.target },
          HostConfig: {
            CapDrop: ['ALL'],
            SecurityOpt: ['no-new-privileges'],
            Privileged: false,
            ReadonlyRootfs: true,
            Tmpfs: mounts,
            PidsLimit: spec.limits.pids,
            Memory: spec.limits.memoryBytes,
            // Equal to Memory: no swap beyond the limit.
            MemorySwap: spec.limits.memoryBytes,
            NanoCpus: Math.round(spec.limits.cpus * 1e9),
            NetworkMode: spec.network,
            IpcMode: 'private',
            Binds: [],
            AutoRemove: false,
            Init: false,
            LogConfig: { Type: 'none', Config: {} },
            ConsoleSize: [spec.size.rows, spec.size.cols],
          },
        });
      } catch (err) {
        throw engineError(err, spec.image);
      }

      const destroy = once(async () => {
        await container.remove({ force: true, v: true }).catch((err: { statusCode?: number }) => {
          if (err.statusCode !== 404) throw err;
        });
      });
      try {
        const live = longLived.getContainer(container.id);
        const stream = (await live.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as NodeJS.ReadWriteStream &
          PassThrough;
        // next-exit: the default (not-running) would answer at once for a container not yet started.
        const exited = live.wait({ condition: 'next-exit' }).then(
          (r: { StatusCode: number }) => ({ exitCode: r.StatusCode }),
          () => ({ exitCode: -1 }),
        );
        await container.start();
        // ConsoleSize at create needs Engine API 1.42; set the size explicitly for older engines.
        await container.resize({ w: spec.size.cols, h: spec.size.rows }).catch(() => {});
        const output = new PassThrough({ highWaterMark: 64 * 1024 });
        // pipe() pauses the engine's socket when `output` is not being read: backpressure
        // reaches the container's TTY instead of piling up in the broker.
        stream.pipe(output);
        return {
          handle: { runtime: 'docker', node, id: container.id },
          artifactDigest: image.Id,
          output,
          input: stream,
          async resize(cols, rows) {
            await container.resize({ w: cols, h: rows }).catch(() => {});
          },
          exited,
          destroy,
        } satisfies RunningConsole;
      } catch (err) {
        await destroy().catch(() => {});
        throw engineError(err, spec.image);
      }
    },

    async list() {
      let list: Docker.ContainerInfo[];
      try {
        list = await docker.listContainers({ all: true, filters: { label: [LABEL_BROKER] } });
      } catch (err) {
        throw engineError(err, '');
      }
      return list.map((c) => ({
        handle: { runtime: 'docker', node, id: c.Id },
        brokerId: c.Labels[LABEL_BROKER] ?? '',
        sessionId: c.Labels[LABEL_SESSION] ?? '',
      }));
    },

    async remove(handle) {
      await docker
        .getContainer(handle.id)
        .remove({ force: true, v: true })
        .catch((err: { statusCode?: number }) => {
          if (err.statusCode !== 404) throw engineError(err, '');
        });
    },
  };
}

function dockerConnection(host: string | undefined): Docker.DockerOptions {
  if (!host) return { socketPath: '/var/run/docker.sock' };
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  const u = new URL(host.replace(/^tcp:/, 'http:'));
  return { host: u.hostname, port: Number(u.port || 2375), protocol: u.protocol === 'https:' ? 'https' : 'http' };
}

function engineError(err: unknown, image: string): SallyportError {
  if (err instanceof SallyportError) return err;
  const e = err as { statusCode?: number; code?: string; message?: string };
  if (e.statusCode === 404 && image) {
    return new SallyportError('IMAGE_NOT_FOUND', `image ${image} is not present on the container engine`, { cause: err });
  }
  return new SallyportError('RUNTIME_UNAVAILABLE', `the container engine cannot be reached or refused the request (${e.code ?? e.statusCode ?? 'error'})`, {
    cause: err,
  });
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}
