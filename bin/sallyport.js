#!/usr/bin/env node
// The `sallyport` command. In a checkout (the TypeScript sources are here) it runs them through
// tsx, so `npx sallyport …` needs no build step to remember; in an installed package (npm pack,
// npm install -g) only the compiled dist/ ships, and it runs that.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const source = new URL('../server/cli.ts', import.meta.url);
if (existsSync(fileURLToPath(source))) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import(new URL('../dist/server/cli.js', import.meta.url).href);
}
