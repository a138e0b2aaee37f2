// The console service: opens sessions (after the access layer says yes), keeps the live ones,
// writes their audit events, and cleans up after a crash or on shutdown.
import { randomUUID } from 'node:crypto';
import { authorizeLiveControl, maySeeAllSessions, maySeeSession, mayUseTarget, type AccessRequests, type Principal } from '../access/index.js';
import type { AuditLog } from '../audit/index.js';
import type { CatalogStore, Target } from '../catalog/index.js';
import {
  appendRecordingChunk,
  createRecording,
  endConsoleSession,
  endOrphanedConsoleSessions,
  getConsoleSession,
  insertConsoleSession,
  linkConsoleGrant,
  listConsoleSessions,
  readRecordingChunks,
  listRecordingCommands,
  searchRecordings,
  markConsoleStarted,
  type CommandRow,
  sealRecording,
  type ConsoleSessionRow,
  type Database,
} from '../db/index.js';
import { SallyportError } from '../errors.js';
import { Recorder, type RecordingStore } from '../recording/index.js';
import type { Replay, ReplayIndex } from '../replay/index.js';
import type { Runtime } from '../runtime/index.js';
import { ConsoleSession, type ConsoleClient, type ConsoleObserver, type EndInfo } from './session.js';

export interface ConsoleService {
  open(principal: Principal, targetName: string, size: { cols: number; rows: number }, client: ConsoleClient): Promise<ConsoleSession>;
  /** At start: end sessions a previous run of this broker left live, and remove their containers. */
  recover(): Promise<{ sessions: string[]; containers: string[] }>;
  /** On shutdown: tell every live session, seal its recording, remove its container. */
  shutdown(): Promise<void>;
  liveCount(): number;
  /**
   * Once a second: expire grants, and end live consoles whose grant expired or was revoked,
   * or whose user the catalogue no longer allows. Returns a stop function.
   */
  enforceGrants(intervalMs?: number): () => void;
  /** Sessions running on this broker now (admins only). */
  liveSessions(principal: Principal): LiveSession[];
  /** Watch a live session read-only (admins only; audited; the user is told). */
  watch(principal: Principal, id: string, observer: ConsoleObserver): Promise<{ recent: string; cols: number; rows: number; stop: () => void }>;
  /** End a live session now (admins only; audited; the user is told who ended it). */
  terminate(principal: Principal, id: string, reason: string): Promise<void>;
  /** The principal's own sessions; auditors and admins see everyone's. */
  list(principal: Principal, limit?: number): Promise<ConsoleSessionRow[]>;
  /** One session, or NOT_FOUND (also when the principal may not see it: no existence leak). */
  get(principal: Principal, id: string): Promise<ConsoleSessionRow>;
  /** The recording's asciicast bytes, chunk by chunk. */
  recording(principal: Principal, id: string): Promise<AsyncIterable<Buffer>>;
  /** The session's evidence bundle (an audited download). */
  evidenceBundle(principal: Principal, id: string): Promise<{ name: string; stream: AsyncIterable<Buffer> }>;
  /** What the player needs to seek: chunk time spans and keyframes. */
  replayIndex(principal: Principal, id: string): Promise<ReplayIndex>;
  /** Chunks from..to (event lines), for the window around the player's playhead. */
  replayChunks(principal: Principal, id: string, from: number, to: number): Promise<Buffer[]>;
  keyframe(principal: Principal, id: string, n: number): Promise<{ t: number; afterChunk: number; cols: number; rows: number; screen: string }>;
  /** The command lines reconstructed from the session's recorded input, with their times. */
  commands(principal: Principal, id: string): Promise<CommandRow[]>;
  /** Search screen text and typed commands of every recording the principal may see. */
  search(principal: Principal, query: SearchQuery): Promise<SearchResult[]>;
}

export interface SearchQuery {
  q: string;
  username?: string;
  target?: string;
  from?: Date;
  to?: Date;
  /** Only sessions opened with a just-in-time grant (or with this grant). */
  approvedOnly?: boolean;
  grantId?: string;
}

export interface SearchResult {
  sessionId: string;
  username: string;
  target: string;
  startedAt: Date;
  grantId: string | null;
  /** Seconds into the recording: the replay opens here. */
  t: number;
  kind: 'output' | 'input';
  snippet: string;
}

export interface LiveSession {
  id: string;
  username: string;
  target: string;
  image: string;
  startedAt: Date;
  grantId: string | null;
  watchers: string[];
}

export interface ConsoleServiceDeps {
  db: Database;
  audit: AuditLog;
  catalog: CatalogStore;
  runtime: Runtime;
  access: AccessRequests;
  brokerId: string;
  /** The broker's environment, for `fromEnv` values. */
  env: Readonly<Record<string, string | undefined>>;
  recorderFlushMs?: number;
  replay: Replay;
  /** Builds a session's evidence bundle (bundle/, with the broker's JWKS). */
  bundle: (sessionId: string) => Promise<{ name: string; stream: AsyncIterable<Buffer> }>;
  /** Called after a session's end is committed, with its sealed recording (for a signed checkpoint). */
  onRecordingSealed?: (evidence: { sessionId: string; sha256: string; chainHash: string; bytes: number; durationSeconds: number }) => Promise<unknown>;
}

export function createConsoleService(deps: ConsoleServiceDeps): ConsoleService {
  const { db, audit, runtime, brokerId } = deps;
  const live = new Map<string, ConsoleSession>();
  const context = new Map<string, { principal: Principal; target: string; image: string; grantId: string | null; startedAt: Date }>();
  const store: RecordingStore = {
    create: (id, header) => createRecording(db, id, header as unknown as Record<string, unknown>),
    append: (id, seq, data, chainHash, meta) => appendRecordingChunk(db, id, seq, data, chainHash, meta),
    seal: (id, seal) => sealRecording(db, id, seal),
  };

  const environment = (t: Target): Record<string, string> =>
    Object.fromEntries(
      Object.entries(t.environment).map(([k, v]) => {
        if (typeof v === 'string') return [k, v];
        const value = deps.env[v.fromEnv];
        if (value === undefined) throw new SallyportError('CATALOG_INVALID', `${t.name}: broker variable ${v.fromEnv} is not set`);
        return [k, value];
      }),
    );

  const get = async (principal: Principal, id: string): Promise<ConsoleSessionRow> => {
    const row = /^[0-9a-f-]{36}$/.test(id) ? await getConsoleSession(db, id) : null;
    if (!row || !maySeeSession(principal, row.user_id)) throw new SallyportError('NOT_FOUND', `no console session ${id}`);
    return row;
  };

  return {
    async open(principal, targetName, size, client) {
      const target = deps.catalog.current().targets.find((t) => t.name === targetName);
      if (!target) throw new SallyportError('NOT_FOUND', `no target named ${targetName}`);
      const env = environment(target);
      // The access layer decides (and takes a grant's use when one is needed) before anything exists.
      const { grantId } = await deps.access.admitConsole(principal, target);

      const id = randomUUID();
      await insertConsoleSession(db, { id, userId: principal.userId, target: target.name, runtime: runtime.name, image: target.image, command: target.command, brokerId });
      if (grantId) await linkConsoleGrant(db, id, grantId);
      let failure: ((err: unknown) => void) | undefined;
      const recorder = await Recorder.start(
        store,
        id,
        {
          version: 2,
          width: size.cols,
          height: size.rows,
          timestamp: Math.floor(Date.now() / 1000),
          command: target.command.join(' '),
          title: `${target.name} — ${principal.username}`,
        },
        { recordInput: target.recordInput, flushIntervalMs: deps.recorderFlushMs, onFailure: (err) => failure?.(err) },
      );

      let running;
      try {
        running = await runtime.start({
          sessionId: id,
          target: target.name,
          image: target.image,
          command: target.command,
          env,
          user: target.user,
          workdir: target.workdir,
          limits: { memoryBytes: target.limits.memory, cpus: target.limits.cpus, pids: target.limits.pids },
          network: target.network,
          size,
        });
      } catch (err) {
        const seal = await recorder.seal().catch(() => null);
        await endConsoleSession(db, id, { reason: `failed to start: ${(err as SallyportError).code ?? 'error'}`, exitCode: null, bytesOut: 0, bytesIn: 0 });
        await audit.append({
          actor: `user:${principal.userId}`,
          action: 'console.failed',
          subject: id,
          details: { target: target.name, image: target.image, code: (err as SallyportError).code ?? 'INTERNAL', recordingSha256: seal?.sha256 ?? null },
        });
        throw err;
      }
      await markConsoleStarted(db, id, running.containerId, running.imageId);
      await audit.append({
        actor: `user:${principal.userId}`,
        action: 'console.opened',
        subject: id,
        details: {
          username: principal.username,
          target: target.name,
          image: target.image,
          imageId: running.imageId,
          containerId: running.containerId,
          grantId,
        },
      });
      if (grantId) {
        await audit.append({ actor: `user:${principal.userId}`, action: 'access.grant_used', subject: grantId, details: { target: target.name, sessionId: id } });
      }

      const onEnded = async (info: EndInfo) => {
        live.delete(id);
        context.delete(id);
        try {
          await recordEnd(info);
        } finally {
          const r = info.recording;
          if (r && deps.onRecordingSealed) {
            await deps.onRecordingSealed({ sessionId: id, sha256: r.sha256, chainHash: r.chainHash, bytes: r.size, durationSeconds: r.durationSeconds }).catch(() => undefined);
          }
        }
      };
      const recordEnd = async (info: EndInfo) => {
        await db.transaction(async (tx) => {
          if (await endConsoleSession(tx, id, info)) {
            await audit.append(
              {
                actor: `user:${principal.userId}`,
                action: 'console.ended',
                subject: id,
                details: {
                  target: target.name,
                  reason: info.reason,
                  exitCode: info.exitCode,
                  bytesOut: info.bytesOut,
                  bytesIn: info.bytesIn,
                  recordingSha256: info.recording?.sha256 ?? null,
                  recordingBytes: info.recording?.size ?? null,
                  recordingChainHash: info.recording?.chainHash ?? null,
                  recordingDurationSeconds: info.recording?.durationSeconds ?? null,
                },
              },
              tx,
            );
          }
        });
      };
      const session = new ConsoleSession(
        id,
        running,
        recorder,
        client,
        { idleSeconds: target.limits.idleTimeout, maxSeconds: target.limits.maxDuration },
        onEnded,
        size,
      );
      // Fail closed: a session whose recording cannot be written does not go on unrecorded.
      failure = () => {
        client.notice('Recording failed; the session is being closed.');
        void session.end('recording failed');
      };
      live.set(id, session);
      context.set(id, { principal, target: target.name, image: target.image, grantId, startedAt: new Date() });
      return session;
    },

    async recover() {
      const sessions = await endOrphanedConsoleSessions(db, brokerId, 'broker restarted');
      const containers = await runtime.reapOrphans(new Set(live.keys()));
      for (const s of sessions) {
        await audit.append({ actor: 'system', action: 'console.ended', subject: s, details: { target: null, reason: 'broker restarted', exitCode: null, bytesOut: null, bytesIn: null, recordingSha256: null, recordingBytes: null, recordingChainHash: null, recordingDurationSeconds: null } });
      }
      return { sessions, containers };
    },

    async shutdown() {
      await Promise.all(
        [...live.values()].map(async (s) => {
          await s.end('broker shutting down');
        }),
      );
    },

    liveCount: () => live.size,

    liveSessions(principal) {
      authorizeLiveControl(principal);
      return [...context.entries()].flatMap(([id, c]) => {
        const s = live.get(id);
        if (!s?.live) return [];
        return [{ id, username: c.principal.username, target: c.target, image: c.image, startedAt: c.startedAt, grantId: c.grantId, watchers: s.watcherNames }];
      });
    },

    async watch(principal, id, observer) {
      authorizeLiveControl(principal);
      const session = live.get(id);
      const c = context.get(id);
      if (!session?.live || !c) throw new SallyportError('NOT_FOUND', `no live console session ${id}`);
      await audit.append({ actor: `user:${principal.userId}`, action: 'console.watched', subject: id, details: { watcher: principal.username, username: c.principal.username, target: c.target } });
      return session.watch(observer);
    },

    async terminate(principal, id, reason) {
      authorizeLiveControl(principal);
      const session = live.get(id);
      const c = context.get(id);
      if (!session?.live || !c) throw new SallyportError('NOT_FOUND', `no live console session ${id}`);
      await audit.append({ actor: `user:${principal.userId}`, action: 'console.terminated', subject: id, details: { by: principal.username, username: c.principal.username, target: c.target, reason } });
      await session.end(`terminated by ${principal.username}${reason ? `: ${reason}` : ''}`);
    },

    enforceGrants(intervalMs = 1000) {
      let running = false;
      const tick = async () => {
        if (running) return;
        running = true;
        try {
          await deps.access.expire();
          const withGrants = [...context.entries()].filter(([, c]) => c.grantId);
          const dead = new Map((await deps.access.deadGrants(withGrants.map(([, c]) => c.grantId!))).map((g) => [g.id, g.status]));
          for (const [sessionId, c] of context) {
            const session = live.get(sessionId);
            if (!session) continue;
            const why = c.grantId ? dead.get(c.grantId) : undefined;
            const target = deps.catalog.current().targets.find((t) => t.name === c.target);
            if (why) void session.end(`grant ${why}`);
            else if (!target || !mayUseTarget(c.principal, target)) void session.end('access removed from the catalogue');
          }
        } catch {
          // The next tick tries again; a database outage must not stop the watcher.
        } finally {
          running = false;
        }
      };
      const timer = setInterval(() => void tick(), intervalMs);
      timer.unref();
      return () => clearInterval(timer);
    },

    list(principal, limit = 200) {
      return listConsoleSessions(db, { userId: maySeeAllSessions(principal) ? undefined : principal.userId, limit });
    },

    get,

    async evidenceBundle(principal, id) {
      const row = await get(principal, id);
      const bundle = await deps.bundle(id);
      await audit.append({ actor: `user:${principal.userId}`, action: 'evidence.downloaded', subject: id, details: { by: principal.username, username: row.username, target: row.target } });
      return bundle;
    },

    async replayIndex(principal, id) {
      await get(principal, id);
      return deps.replay.index(id);
    },

    async replayChunks(principal, id, from, to) {
      await get(principal, id);
      return deps.replay.chunks(id, from, to);
    },

    async keyframe(principal, id, n) {
      await get(principal, id);
      return deps.replay.keyframe(id, n);
    },

    async commands(principal, id) {
      await get(principal, id);
      return listRecordingCommands(db, id);
    },

    async search(principal, query) {
      const hits = await searchRecordings(db, {
        query: query.q,
        userId: maySeeAllSessions(principal) ? undefined : principal.userId,
        username: query.username,
        target: query.target,
        from: query.from,
        to: query.to,
        approvedOnly: query.approvedOnly,
        grantId: query.grantId,
        limit: 200,
      });
      return hits.map((h) => ({
        sessionId: h.session_id,
        username: h.username,
        target: h.target,
        startedAt: h.started_at,
        grantId: h.grant_id,
        t: h.t,
        kind: h.kind,
        snippet: snippet(h.text, query.q),
      }));
    },

    async recording(principal, id) {
      await get(principal, id);
      return readRecordingChunks(db, id);
    },
  };
}

/** Up to ~60 characters either side of the first match (or of the first query word), one line. */
function snippet(text: string, q: string): string {
  const lower = text.toLowerCase();
  const words = [q, ...q.split(/\s+/)].map((w) => w.replace(/^"|"$/g, '').toLowerCase()).filter(Boolean);
  const at = Math.max(0, words.map((w) => lower.indexOf(w)).find((i) => i >= 0) ?? 0);
  const start = Math.max(0, at - 60);
  const end = Math.min(text.length, at + 60 + (words[0]?.length ?? 0));
  return `${start > 0 ? '…' : ''}${text.slice(start, end).replace(/\s+/g, ' ').trim()}${end < text.length ? '…' : ''}`;
}
