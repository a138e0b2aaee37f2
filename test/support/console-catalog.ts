// A production-valid catalogue of console targets on the locally built test image, pinned by
// its image ID: a shell, one that idles out fast, one gated by approval, one for another
// group, and two whose image does not exist (one of them gated).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function writeConsoleCatalog(image: string): string {
  const imageId = execFileSync('docker', ['image', 'inspect', '-f', '{{.Id}}', image], { encoding: 'utf8' }).trim();
  const file = join(mkdtempSync(join(tmpdir(), 'sallyport-consoles-')), 'catalog.yaml');
  const limits = (idle: string) => `{ memory: 64m, cpus: 0.5, pids: 32, maxDuration: 1h, idleTimeout: ${idle} }`;
  writeFileSync(
    file,
    `version: 1
targets:
  - { name: shell, description: a shell, runtime: docker, image: "${imageId}", command: [sh], user: "1000:1000",
      environment: { GREETING: { fromEnv: CONSOLE_GREETING } }, limits: ${limits('15m')}, allow: { groups: [developers] } }
  - { name: sleepy, description: idles out, runtime: docker, image: "${imageId}", command: [sh], user: "1000:1000",
      limits: ${limits('2s')}, allow: { groups: [developers] } }
  - { name: quiet, description: input not recorded, runtime: docker, image: "${imageId}", command: [sh], user: "1000:1000",
      limits: ${limits('15m')}, allow: { groups: [developers] }, recordInput: false }
  - { name: brief, description: ends after 3 s, runtime: docker, image: "${imageId}", command: [sh], user: "1000:1000",
      limits: { memory: 64m, cpus: 0.5, pids: 32, maxDuration: 3s, idleTimeout: 3s }, allow: { groups: [developers] } }
  - { name: gated, description: needs approval, runtime: docker, image: "${imageId}", command: [sh], user: "1000:1000",
      limits: ${limits('15m')}, allow: { groups: [developers] }, approval: { required: true, approvers: [approvers] } }
  - { name: ops-only, description: not for alice, runtime: docker, image: "${imageId}", command: [sh],
      limits: ${limits('15m')}, allow: { groups: [ops] } }
  - { name: missing-image, description: image absent, runtime: docker, image: "sha256:${'0'.repeat(64)}", command: [sh],
      limits: ${limits('15m')}, allow: { groups: [developers] } }
  - { name: gated-missing, description: gated and image absent, runtime: docker, image: "sha256:${'0'.repeat(64)}", command: [sh],
      limits: ${limits('15m')}, allow: { groups: [developers] }, approval: { required: true, approvers: [approvers], maxSessions: 1 } }
`,
  );
  return file;
}
