// Where the package's own files are (and its version), whether running from server/*.ts (tsx, vitest) or from
// the compiled dist/server/*.js. Imports nothing of the project.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('sallyport: cannot find the package root');
    dir = parent;
  }
  return dir;
}

export const PACKAGE_ROOT = findRoot();
/** The package's version, from its package.json: what `--version` prints and brokers register. */
export const PACKAGE_VERSION = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
export const MIGRATIONS_DIR = join(PACKAGE_ROOT, 'migrations');
export const WEB_DIST_DIR = join(PACKAGE_ROOT, 'dist', 'web');
export const DEMO_CATALOG = join(PACKAGE_ROOT, 'server', 'dev', 'demo-catalog.yaml');
