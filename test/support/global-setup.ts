// Once per test run: build the web app's check that the server can reach PostgreSQL, and
// migrate a template database that every test file clones.
import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { migrate, openDatabase } from '../../server/db/index.js';
import { MIGRATIONS_DIR } from '../../server/paths.js';
import { adminQuery, databaseUrl } from './postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    templateDatabase: string;
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
  return async () => {
    await adminQuery(`drop database if exists ${template} with (force)`);
  };
}
