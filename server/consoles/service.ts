// The console service: the live side of consoles. Opens sessions (open.ts, after the access
// layer says yes), holds the live ones, ends them with their audit event, runs the control pass
// (control.ts), and offers live control — list, watch, terminate — of every broker's consoles
// through the database, so an admin on any broker reaches a console on any other.
import { randomUUID } from 'node:crypto';
import { authorizeLiveControl, type AccessRequests } from '../access/index.js';
import type { Principal } from '../identity/index.js';
import type { AuditLog } from '../audit/index.js';
import type { CatalogStore } from '../catalog/index.js';
import {
  getLiveSession,
  getRecording,
  listLiveSessions,
  requestTermination,
  startWatching,
  stopWatching,
  type Database,
} from '../db/index.js';
import { isSallyportError, SallyportError } from '../errors.js';
import type { ConsoleLevels, Metrics } from '../metrics/index.js';
import type { Runtime } from '../runtime/index.js';
import { controlPass, runEvery, type LiveEntry } from './control.js';
import { endSession } from './end.js';
import { openConsole, recordingStore, type Door } from './open.js';
import { recoverOrphans, type Recovered } from './recover.js';
import { ConsoleSession, type ConsoleClient, type ConsoleObserver, type EndInfo } from './session.js';
import type { RecordingStore } from '../recording/index.js';
import { tailConsole } from './watch.js';

export interface ConsoleService {
  open(principal: Principal, targetName: string, size: { cols: number; rows: number }, client: ConsoleClient, door: Door): Promise<ConsoleSession>;
  /** Takes over dead brokers' consoles and reaps their containers (at start and every heartbeat). */
  recover(): Promise<Recovered>;
  /**
   * A restart coming (SIGTERM): new consoles are refused, every live one's user is told, and
   * resolves when the last one has ended or `ms` has passed (shutdown then ends the rest).
   */
  drain(ms: number): Promise<void>;
  /** On shutdown: tell every live session, seal its recording, remove its container. */
  shutdown(): Promise<void>;
  /** This broker was declared lost: its consoles were taken over, end them here too. */
  takenOver(): void;
  /** The control pass every intervalMs and on every NOTIFY for this broker. */
  startControl(intervalMs?: number): { kick(): void; stop(): Promise<void> };
  /** Consoles live on any broker now (admins only). */
  liveSessions(principal: Principal): Promise<LiveSession[]>;
  /** Watch a live session on any broker read-only (admins only; audited; the user is told). */
  watch(principal: Principal, id: string, observer: ConsoleObserver): Promise<{ recent: string; cols: number; rows: number; stop: () => void }>;
  /** End a live session on whichever broker holds it (admins only; audited; the user is told who). */
  terminate(principal: Principal, id: string, reason: string): Promise<void>;
  /** This broker's consoles now, for /metrics. */
  levels(): ConsoleLevels;
}

export interface LiveSession {
  id: string;
  username: string;
  target: string;
  image: string;
  broker: string;
  via: string;
  node: string;
  startedAt: Date;
  grantId: string | null;
  watchers: string[];
}

export interface ConsoleServiceDeps {
  db: Database;
  audit: AuditLog;
  catalog: CatalogStore;
  runtimes: ReadonlyMap<string, Runtime>;
  access: AccessRequests;
  brokerId: string;
  /** This database's deployment identity: only its containers are ever reaped. */
  deployment?: string;
  /** The browser session's idle timeout: a console in use keeps its login fresher than this. */
  loginIdleSeconds: number;
  /** Input one console takes a second, beyond a burst (config.consoles.inputBytesPerSecond). */
  inputBytesPerSecond: number;
  recorderFlushMs?: number;
  metrics?: Metrics;
}

/** The recording store, with each chunk write timed for /metrics. */
function timedStore(store: RecordingStore, metrics: Metrics | undefined): RecordingStore {
  if (!metrics) return store;
  return {
    ...store,
    async append(...args) {
      const t0 = performance.now();
      try {
        return await store.append(...args);
      } finally {
        metrics.chunkWritten((performance.now() - t0) / 1000);
      }
    },
  };
}

/** While the database is away, a finished session's end is retried this often. */
const END_RETRY_MS = 2000;

export function createConsoleService(deps: ConsoleServiceDeps): ConsoleService {
  const { db, audit, brokerId } = deps;
  const live = new Map<string, LiveEntry>();
  const starting = new Set<string>();
  const store = timedStore(recordingStore(db), deps.metrics);
  // Bytes through every console this broker has held, live or ended (sessions add to it).
  const totals = { bytesIn: 0, bytesOut: 0 };
  // Ending must not overlap with the shutdown that waits for it.
  const ending = new Set<Promise<unknown>>();

  const endDeps = { audit, returnGrantUse: deps.access.returnGrantUse };
  const recordEnd = async (id: string, principal: Principal, target: string, info: EndInfo) => {
    await db.transaction((tx) =>
      endSession(tx, endDeps, {
        id,
        actor: `user:${principal.userId}`,
        target,
        reason: info.reason,
        counts: { exitCode: info.exitCode, bytesOut: info.bytesOut, bytesIn: info.bytesIn, maskedInput: info.maskedInput },
        recording: info.recording,
        released: info.released,
      }),
    );
  };

  /**
   * Stores the end. Resolves after the first attempt, so the user is told at once; while the
   * database is away it keeps retrying in the background (the entry stays in `live` until the
   * end is stored, so nothing else ends the row with a wrong reason meanwhile).
   */
  const storeEnd = async (id: string, entry: Omit<LiveEntry, 'session'>, info: EndInfo): Promise<void> => {
    deps.metrics?.consoleEnded(entry.target, info.reason.code);
    const attempt = async (): Promise<boolean> => {
      try {
        await recordEnd(id, entry.principal, entry.target, info);
        // Keyframes and the recording's signed checkpoint are jobs this end created (replay/, audit/).
        live.delete(id);
        return true;
      } catch {
        return false;
      }
    };
    if (await attempt()) return;
    const retry = (async () => {
      // After a clean stop, a survivor (or the next start) ends it as "broker stopped".
      while (!stopping) {
        await new Promise((r) => setTimeout(r, END_RETRY_MS).unref());
        if (await attempt()) return;
      }
    })();
    ending.add(retry);
    void retry.finally(() => ending.delete(retry));
  };
  let stopping = false;
  let draining = false;

  const service: ConsoleService = {
    async open(principal, targetName, size, client, door) {
      if (draining) throw new SallyportError('RUNTIME_UNAVAILABLE', 'this broker is restarting and opens no new consoles: connect again (another broker takes it)');
      let session: ConsoleSession | undefined;
      const t0 = performance.now();
      const opened = await openConsole(deps, principal, targetName, size, door, {
        starting,
        store,
        // Fail closed: a session whose recording cannot be written does not go on unrecorded.
        onRecordingFailure: () => {
          client.notice('Recording failed; the session is being closed.');
          void session?.end({ code: 'recording_failed' });
        },
      }).catch((err: unknown) => {
        // The name is the user's (a URL, an SSH user name): only a catalogue target is a label of
        // its own, or anyone could grow the metrics without bound by asking for made-up ones.
        const known = deps.catalog.current().targets.some((t) => t.name === targetName);
        deps.metrics?.consoleRefused(known ? targetName : '(unknown)', door.via, isSallyportError(err) ? err.code : 'INTERNAL');
        throw err;
      });
      deps.metrics?.consoleOpened(opened.target.name, door.via, (performance.now() - t0) / 1000);
      const entry = { principal, target: opened.target.name, grantId: opened.grantId };
      session = new ConsoleSession(
        opened.id,
        opened.running,
        opened.recorder,
        client,
        {
          idleSeconds: opened.target.limits.idleTimeout,
          maxSeconds: opened.target.limits.maxDuration,
          inputBytesPerSecond: deps.inputBytesPerSecond,
          ...(opened.grant ? { grantEndsAt: opened.grant.expiresAt } : {}),
        },
        (info) => storeEnd(opened.id, entry, info),
        deps.recorderFlushMs,
        totals,
      );
      live.set(opened.id, { ...entry, session });
      // Which grant the console runs under, in the words the approver read: with several in force
      // the user must not guess whose justification the record will show.
      if (opened.grant && opened.grantId) {
        client.notice(`This console runs under your approved access "${opened.grant.reason}" (request ${opened.grantId}), until ${opened.grant.expiresAt.toISOString().replace('T', ' ').slice(0, 16)} UTC.`);
      }
      return session;
    },

    levels() {
      const liveByTarget = new Map<string, number>();
      let recordingBacklog = 0;
      for (const { target, session } of live.values()) {
        liveByTarget.set(target, (liveByTarget.get(target) ?? 0) + 1);
        recordingBacklog += session.recordingBacklog;
      }
      return { liveByTarget, bytesIn: totals.bytesIn, bytesOut: totals.bytesOut, recordingBacklog };
    },

    recover() {
      return recoverOrphans({
        db,
        audit,
        returnGrantUse: deps.access.returnGrantUse,
        deployment: deps.deployment,
        runtimes: [...deps.runtimes.values()],
        brokerId,
        ownSessions: () => new Set([...live.keys(), ...starting]),
      });
    },

    async drain(ms) {
      draining = true;
      const until = Date.now() + ms;
      const minutes = ms >= 120_000 ? `${Math.round(ms / 60_000)} minutes` : `${Math.round(ms / 1000)} s`;
      for (const e of live.values()) {
        e.session.notice(`This broker is restarting: your console goes on for up to ${minutes}, then it ends. Finish or save your work; a new console opens on another broker.`);
      }
      while (live.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    },

    async shutdown() {
      await Promise.all([...live.values()].map((e) => e.session.end({ code: 'broker_shutdown' })));
      stopping = true;
      await Promise.all([...ending]);
    },

    takenOver() {
      for (const e of live.values()) void e.session.end({ code: 'taken_over' });
    },


    startControl(intervalMs = 1000) {
      return runEvery(controlPass({
          db,
          audit,
          access: deps.access,
          catalog: deps.catalog,
          brokerId,
          live,
          starting,
          // Often enough that a login in use never idles out, rarely enough to cost nothing.
          loginTouchSeconds: Math.max(1, Math.min(60, Math.floor(deps.loginIdleSeconds / 3))),
        }), intervalMs);
    },

    async liveSessions(principal) {
      authorizeLiveControl(principal);
      return (await listLiveSessions(db)).map((s) => ({
        id: s.id,
        username: s.username,
        target: s.target,
        image: s.image,
        broker: s.broker_id,
        via: s.via,
        node: s.node,
        startedAt: s.started_at,
        grantId: s.grant_id,
        watchers: s.watchers,
      }));
    },

    async watch(principal, id, observer) {
      authorizeLiveControl(principal);
      const s = /^[0-9a-f-]{36}$/.test(id) ? await getLiveSession(db, id) : null;
      const rec = s ? await getRecording(db, id) : null;
      if (!s || !rec) throw new SallyportError('NOT_FOUND', `no live console session ${id}`);
      const watcherId = randomUUID();
      await db.transaction(async (tx) => {
        await startWatching(tx, { id: watcherId, sessionId: id, userId: principal.userId, brokerId, ownerBrokerId: s.broker_id });
        await audit.append({ actor: `user:${principal.userId}`, action: 'console.watched', subject: id, details: { watcher: principal.username, username: s.username, target: s.target } }, tx);
      });
      const unwatch = () => void stopWatching(db, watcherId).catch(() => undefined);
      const tail = await tailConsole(db, id, rec.header as { width: number; height: number }, {
        ...observer,
        end(reason) {
          unwatch();
          observer.end(reason);
        },
      });
      return {
        ...tail,
        stop() {
          tail.stop();
          unwatch();
        },
      };
    },

    async terminate(principal, id, reason) {
      authorizeLiveControl(principal);
      const s = /^[0-9a-f-]{36}$/.test(id) ? await getLiveSession(db, id) : null;
      if (!s) throw new SallyportError('NOT_FOUND', `no live console session ${id}`);
      const requested = await db.transaction(async (tx) => {
        const r = await requestTermination(tx, id, principal.username, reason);
        if (r) await audit.append({ actor: `user:${principal.userId}`, action: 'console.terminated', subject: id, details: { by: principal.username, username: s.username, target: s.target, reason, ...(principal.clientAddress ? { clientAddress: principal.clientAddress } : {}) } }, tx);
        return r;
      });
      if (!requested) throw new SallyportError('NOT_FOUND', `no live console session ${id}`);
      // Held here: end it now rather than on the next pass.
      await live.get(id)?.session.end({ code: 'terminated', by: principal.username, reason });
    },
  };
  return service;
}
