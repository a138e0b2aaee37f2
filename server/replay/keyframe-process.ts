// Keyframes of a large recording are built in a child process: feeding a whole recording
// through a headless xterm is the broker's largest single CPU cost after a busy day (a sixth of
// it under the load benchmark, docs/performance.md), and on the event loop it competed with
// every live console's keystrokes for as long as it ran — minutes, after a console printed a
// gigabyte. A process rather than a worker thread: on Node 20 tsx's loader does not reach worker
// threads, so a TypeScript worker could not start under `npm run dev` or the tests. The chunks
// are read here (the database pool lives here) and handed over one at a time as the builder
// asks for them; keyframes come back in order. One child per broker, started on first use,
// gone with the broker.
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import type { Keyframe } from '../recording/keyframes.js';

type Header = { width: number; height: number };
export type ToBuilder =
  | { type: 'build'; header: Header; everyBytes?: number }
  | { type: 'chunk'; seq: number; data: Uint8Array; t_end: number | null }
  | { type: 'end' };
export type FromBuilder = { type: 'ready' } | { type: 'next' } | { type: 'keyframe'; keyframe: Keyframe } | { type: 'done' } | { type: 'failed'; message: string };

// Under tsx or vitest this file is TypeScript and so is the child's (started with tsx's loader,
// a dev dependency present wherever .ts files run, named by its path so the broker's working
// directory does not matter); built, both are .js and need nothing.
const typescript = import.meta.url.endsWith('.ts');
const CHILD = new URL(typescript ? './keyframe-child.ts' : './keyframe-child.js', import.meta.url);
const EXEC_ARGV = typescript ? ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href] : [];

export interface KeyframeProcess {
  /** One build at a time (the replay job builds one recording after another); a second is refused. */
  build(header: Header, chunks: AsyncIterable<{ seq: number; data: Uint8Array; t_end: number | null }>, options?: { everyBytes?: number }): AsyncGenerator<Keyframe>;
  close(): Promise<void>;
  /** The builder process's id while it runs (for operators' tooling and the tests). */
  readonly pid: number | undefined;
}

export function keyframeProcess(): KeyframeProcess {
  type Event = FromBuilder | { type: 'exit'; code: number | null } | { type: 'error'; err: Error };
  let child: { proc: ChildProcess; ready: boolean } | undefined;
  // The build in progress hears the child's messages; `ready` is kept apart, so a child that
  // finished one build is known ready for the next whether or not anybody was listening.
  let listener: ((e: Event) => void) | undefined;
  const start = () => {
    const proc = fork(CHILD, [], { execArgv: EXEC_ARGV, serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const c = { proc, ready: false };
    // Only the current child speaks to the build in progress: one killed after a failed or
    // abandoned build may still say something (its exit) while the next build runs.
    proc.on('message', (m: FromBuilder) => {
      if (m.type === 'ready') c.ready = true;
      if (child === c) listener?.(m);
    });
    proc.on('exit', (code) => {
      if (child !== c) return;
      child = undefined;
      listener?.({ type: 'exit', code });
    });
    // The broker never waits for its builder to exit.
    proc.unref();
    proc.channel?.unref();
    return c;
  };

  return {
    async *build(header, chunks, options = {}) {
      // The child and its messages serve one build: a second at once would read the first's.
      if (listener) throw new Error('the keyframe builder is busy with another recording');
      const c = (child ??= start());
      const source = chunks[Symbol.asyncIterator]();
      const inbox: Event[] = [];
      let wake: (() => void) | undefined;
      const put = (e: Event) => {
        inbox.push(e);
        wake?.();
      };
      listener = put;
      const take = async () => {
        while (inbox.length === 0) await new Promise<void>((resolve) => (wake = resolve));
        return inbox.shift()!;
      };
      const feed = async () => {
        const r = await source.next();
        const m: ToBuilder = r.done ? { type: 'end' } : { type: 'chunk', seq: r.value.seq, data: r.value.data, t_end: r.value.t_end };
        c.proc.send(m);
      };
      let finished = false;
      c.proc.ref();
      try {
        while (!c.ready) {
          const m = await take();
          if (m.type === 'exit') throw new Error(`keyframe builder exited (${m.code}) before building`);
        }
        c.ready = false;
        c.proc.send({ type: 'build', header, everyBytes: options.everyBytes } satisfies ToBuilder);
        for (;;) {
          const m = await take();
          if (m.type === 'next') feed().catch((err: unknown) => put({ type: 'error', err: err as Error }));
          else if (m.type === 'keyframe') yield m.keyframe;
          else if (m.type === 'done') {
            finished = true;
            return;
          } else if (m.type === 'failed') throw new Error(`keyframes not built: ${m.message}`);
          else if (m.type === 'error') throw m.err;
          else if (m.type === 'exit') throw new Error(`keyframe builder exited (${m.code}) while building`);
        }
      } finally {
        listener = undefined;
        // A builder left mid-recording (a failure, or the caller stopped early) would answer the
        // next build with this one's messages: it goes, and the next build starts a fresh one.
        if (!finished) {
          if (child === c) child = undefined;
          c.proc.kill();
        } else c.proc.unref();
        await source.return?.();
      }
    },
    get pid() {
      return child?.proc.pid;
    },
    async close() {
      const c = child;
      child = undefined;
      if (!c || c.proc.exitCode !== null) return;
      const gone = new Promise((r) => c.proc.once('exit', r));
      c.proc.kill();
      await gone;
    },
  };
}
