// The load benchmarks' side of bench/load-client.ts: one client process, the orders sent to it
// and the reports it sends back (bench/load.ts, bench/echo-load.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PACKAGE_ROOT } from '../server/paths.js';
import type { Order, Report } from './load-client.js';

/** One client process and the reports it sends back. */
export class LoadClient {
  readonly child: ChildProcess;
  private readonly backlog: Report[] = [];
  private waiters: Array<() => void> = [];
  constructor(url: string, cookie: string, origin: string) {
    this.child = spawn(process.execPath, ['--import', 'tsx', join(PACKAGE_ROOT, 'bench', 'load-client.ts'), url, cookie, origin], {
      cwd: PACKAGE_ROOT,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.backlog.push(JSON.parse(line) as Report);
      for (const w of this.waiters.splice(0)) w();
    });
  }
  send(o: Order): void {
    this.child.stdin!.write(`${JSON.stringify(o)}\n`);
  }
  /** The next `n` reports that match, in order; fails after `ms`. */
  async take(n: number, match: (r: Report) => boolean, ms: number): Promise<Report[]> {
    const deadline = Date.now() + ms;
    const got: Report[] = [];
    while (got.length < n) {
      const i = this.backlog.findIndex(match);
      if (i >= 0) {
        got.push(...this.backlog.splice(i, 1));
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out with ${got.length} of ${n} reports`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => (clearTimeout(t), resolve()));
      });
    }
    return got;
  }
  async do(o: Order, n: number, ms: number): Promise<Report[]> {
    const ids = new Set('ids' in o ? o.ids : [o.id]);
    this.send(o);
    return this.take(n, (r) => ids.has(r.id) || r.id === '', ms);
  }
  stop(): void {
    this.child.stdin!.end();
    this.child.kill();
  }
}
