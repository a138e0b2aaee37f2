// Whether the engine can run an image reference as the catalogue writes it, for `catalog check
// --engine`: a reference the engine cannot resolve fails at open, in front of a user, otherwise.
// One mistake is named apart: a local image ID written as a repository digest
// (`name@sha256:<image id>`), which looks pinned but names a manifest no registry has.
import Docker from 'dockerode';
import { dockerConnection, type DockerRuntimeOptions } from './runtime.js';

export type Resolution = { ok: true; id: string } | { ok: false; why: string };

export async function resolveImage(ref: string, engine: Pick<DockerRuntimeOptions, 'dockerHost' | 'dockerTls'>): Promise<Resolution> {
  const docker = new Docker({ ...dockerConnection(engine.dockerHost, engine.dockerTls), timeout: 5000 });
  try {
    const info = await docker.getImage(ref).inspect();
    return { ok: true, id: info.Id };
  } catch (err) {
    const status = (err as { statusCode?: number }).statusCode;
    if (status !== 404) return { ok: false, why: `the container engine cannot be asked (${(err as { code?: string }).code ?? status ?? 'error'})` };
  }
  const digest = /@(sha256:[0-9a-f]{64})$/.exec(ref)?.[1];
  if (digest) {
    const asId = await docker
      .getImage(digest)
      .inspect()
      .then((i) => i.Id === digest, () => false);
    if (asId) return { ok: false, why: `${digest} is this engine's image ID, written as a repository digest: write image: ${digest}, or pin the digest the registry has (docker image inspect: RepoDigests)` };
  }
  return { ok: false, why: `the container engine has no image ${ref}: pull it (or push it to the registry the engine pulls from) before consoles open` };
}
