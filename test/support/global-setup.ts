// Once per test run: migrate a template database that every test file clones, and build the
// console test image.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { migrate, openDatabase } from '../../server/db/index.js';
import { MIGRATIONS_DIR, PACKAGE_ROOT } from '../../server/paths.js';
import { adminQuery, databaseUrl } from './postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    templateDatabase: string;
    consoleImage: string;
  }
}

export default async function setup(project: TestProject) {
  const template = `sallyport_tpl_${randomBytes(4).toString('hex')}`;
  await adminQuery(`create database ${template}`);
  const db = openDatabase(databaseUrl(template), { poolSize: 1 });
  try {
    await migrate(db, MIGRATIONS_DIR);
  } finally {
    await db.close();
  }
  project.provide('templateDatabase', template);
  // The console test image, built once per run from Debian's busybox-static (cached by tag).
  const image = execFileSync(join(PACKAGE_ROOT, 'images', 'build-busybox.sh'), { encoding: 'utf8' }).trim();
  project.provide('consoleImage', image);
  return async () => {
    await adminQuery(`drop database if exists ${template} with (force)`);
  };
}
