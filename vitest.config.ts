import { defineConfig } from 'vitest/config';

// Tests that measure latency under load run last, one file at a time: on the 2-core machine a
// second test file beside them takes the CPU their figure is about (the floods' bystander echo).
const MEASURED = ['test/console-floods.test.ts', 'test/latency-budgets.test.ts'];

export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    // Memory assertions collect garbage first (global.gc), so they measure what is held; and no
    // promise may be left unhandled anywhere — every fault scenario runs under strict rejections.
    execArgv: ['--expose-gc', '--unhandled-rejections=strict'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: 'suite', include: ['test/**/*.test.ts', 'server/**/*.test.ts'], exclude: MEASURED, maxWorkers: 2, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'measured', include: MEASURED, maxWorkers: 1, sequence: { groupOrder: 1 } } },
    ],
  },
});
