// Replay that scales: after a recording is sealed, keyframes are built in the background (one
// recording at a time, so a burst of ended sessions does not compete with live consoles; each
// build claimed in the database, so of N brokers exactly one builds each recording), and
// the player is served an index (chunk time spans, keyframes) plus the chunks around its
// playhead — never the whole recording. Who may replay what is decided by the caller
// (ConsoleService.get → access policy) before any of this is asked.
import { claimKeyframeBuild, getRecording, insertKeyframe, listChunkSpans, listKeyframes, getKeyframe, markKeyframesDone, readStoredChunks, recordingsWithoutKeyframes, type Database } from '../db/index.js';
import { SallyportError } from '../errors.js';
import { buildKeyframes } from '../recording/keyframes.js';
import { keyframeProcess } from './keyframe-process.js';
import { chunkRange, type ObjectStore } from '../storage/index.js';

export interface ReplayIndex {
  width: number;
  height: number;
  duration: number;
  /** [seq, tStart, tEnd, bytes] per chunk after the header. */
  chunks: Array<[number, number, number, number]>;
  /** [n, t, afterChunk] per keyframe. */
  keyframes: Array<[number, number, number]>;
  keyframesReady: boolean;
}

/** A player may ask for this many chunks at once (each is at most ~256 KiB). */
export const MAX_CHUNKS_PER_REQUEST = 16;

export interface Replay {
  /** Builds a sealed recording's keyframes soon (background, one at a time). */
  enqueue(sessionId: string): void;
  /** Queues every sealed recording still without keyframes and not claimed by another broker. */
  catchUp(): Promise<void>;
  /**
   * Looks for recordings to build every `everyMs` (each seal creates one: the sealed row without
   * keyframes is the job). Returns a stop function that waits for the build in progress.
   */
  start(log: { warn(obj: object, msg: string): void }, everyMs?: number): () => Promise<void>;
  /** Resolves when the queue is empty (tests, shutdown). */
  idle(): Promise<void>;
  index(sessionId: string): Promise<ReplayIndex>;
  chunks(sessionId: string, from: number, to: number): Promise<Buffer[]>;
  keyframe(sessionId: string, n: number): Promise<{ t: number; afterChunk: number; cols: number; rows: number; screen: string }>;
}

export function createReplay(deps: {
  db: Database;
  /** Claims keyframe builds under this broker's name, so each recording is built once. */
  brokerId: string;
  everyBytes?: number;
  /** Recordings larger than this are built in the builder's own process (keyframe-process.ts). */
  offProcessAboveBytes?: number;
  log?: { warn(obj: object, msg: string): void };
  /** Where moved recordings are (null: the postgres store). */
  objects?: ObjectStore | null;
}): Replay {
  const { db } = deps;
  const builder = keyframeProcess();
  // A small recording builds in milliseconds: not worth a process hop, nor a process for a
  // broker that only ever sees short consoles.
  const offProcessAbove = deps.offProcessAboveBytes ?? 256 * 1024;
  const queue: string[] = [];
  let running: Promise<void> | undefined;

  const build = async (sessionId: string) => {
    if (!(await claimKeyframeBuild(db, sessionId, deps.brokerId))) return;
    const rec = await getRecording(db, sessionId);
    if (!rec?.sealed_at || !rec.header) return;
    const header = rec.header as { width: number; height: number };
    const keyframesOf = Number(rec.size_bytes ?? 0) > offProcessAbove ? builder.build.bind(builder) : buildKeyframes;
    for await (const k of keyframesOf(header, readStoredChunks(db, sessionId), { everyBytes: deps.everyBytes })) {
      await insertKeyframe(db, sessionId, k);
    }
    await markKeyframesDone(db, sessionId);
  };
  const drain = () => {
    if (running || queue.length === 0) return;
    running = (async () => {
      // Yield first, so `running` is assigned before the loop can finish and clear it.
      await Promise.resolve();
      while (queue.length) {
        const id = queue.shift()!;
        await build(id).catch((err: unknown) => deps.log?.warn({ session: id }, `keyframes not built: ${(err as Error).message}`));
      }
      running = undefined;
    })();
  };

  return {
    enqueue(sessionId) {
      if (!queue.includes(sessionId)) queue.push(sessionId);
      drain();
    },
    async catchUp() {
      for (const id of await recordingsWithoutKeyframes(db)) if (!queue.includes(id)) queue.push(id);
      drain();
    },
    async idle() {
      while (running) await running;
    },
    start(log, everyMs = 1000) {
      const look = () => void this.catchUp().catch((err: unknown) => log.warn({}, `keyframe jobs not read, will retry: ${(err as Error).message}`));
      look();
      const timer = setInterval(look, everyMs);
      timer.unref();
      return async () => {
        clearInterval(timer);
        queue.length = 0;
        await this.idle();
        await builder.close();
      };
    },
    async index(sessionId) {
      const rec = await getRecording(db, sessionId);
      if (!rec) throw new SallyportError('NOT_FOUND', `no recording for session ${sessionId}`);
      const header = rec.header as { width: number; height: number };
      const spans = (await listChunkSpans(db, sessionId)).filter((c) => c.seq > 0);
      const keyframes = await listKeyframes(db, sessionId);
      return {
        width: header.width,
        height: header.height,
        duration: rec.duration_seconds ?? spans.at(-1)?.t_end ?? 0,
        chunks: spans.map((c) => [c.seq, c.t_start ?? 0, c.t_end ?? 0, c.bytes]),
        keyframes: keyframes.map((k) => [k.n, k.t, k.after_chunk]),
        keyframesReady: rec.keyframes_done,
      };
    },
    async chunks(sessionId, from, to) {
      if (to - from + 1 > MAX_CHUNKS_PER_REQUEST) {
        throw new SallyportError('BAD_REQUEST', `ask for at most ${MAX_CHUNKS_PER_REQUEST} chunks at a time`, { problems: [{ field: 'to', message: `must be at most from + ${MAX_CHUNKS_PER_REQUEST - 1}` }] });
      }
      return (await chunkRange(db, deps.objects ?? null, sessionId, Math.max(1, from), to)).map((c) => c.data);
    },
    async keyframe(sessionId, n) {
      const k = await getKeyframe(db, sessionId, n);
      if (!k) throw new SallyportError('NOT_FOUND', `no keyframe ${n} for session ${sessionId}`);
      return { t: k.t, afterChunk: k.after_chunk, cols: k.cols, rows: k.rows, screen: k.screen };
    },
  };
}
