// Running the real `sallyport` CLI as a child process, as an operator would.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../server/paths.js';

export const CLI = join(PACKAGE_ROOT, 'server', 'cli.ts');

export function runCli(args: string[], env: Record<string, string | undefined>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, env);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * `nodeArgs` go to node itself, before the script (a profiler's flags, say). Every broker a test
 * starts runs with strict unhandled rejections: a promise nobody handles ends it, and the test.
 */
export function spawnCli(args: string[], env: Record<string, string | undefined>, nodeArgs: string[] = []): ChildProcess {
  return spawn(process.execPath, ['--unhandled-rejections=strict', ...nodeArgs, '--import', 'tsx', CLI, ...args], {
    cwd: PACKAGE_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}
