// The console service: the live side of consoles. Opens sessions (open.ts, after the access
// layer says yes), holds the live ones, ends them with their audit event, runs the control pass
// (control.ts), and offers live control — list, watch, terminate — of every broker's consoles
// through the database, so an admin on any broker reaches a console on any other.
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { authorizeLiveControl, authorizeWatch, type AccessRequests } from '../access/index.js';
import type { Principal } from '../identity/index.js';
import type { AuditLog } from '../audit/index.js';
import type { CatalogStore, Target } from '../catalog/index.js';
import {
  getLiveSession,
  getRecording,
  listLiveSessions,
  requestTermination,
  setReattachKeyHash,
  answerRequest,
  carried,
  clearRequest,
  claimOffer,
  requestHandover,
  consoleCarrier,
  handoverOf,
  letGo,
  markPaused,
  offerConsole,
  otherLiveBrokers,
  pausedOffers,
  readRecordingChunks,
  unclaim,
  withdrawOffers,
  startWatching,
  stopWatching,
  type Database,
} from '../db/index.js';
import { isSallyportError, SallyportError } from '../errors.js';
import type { ConsoleLevels, Metrics } from '../metrics/index.js';
import type { ConsoleHandle, RunningConsole, Runtime } from '../runtime/types.js';
import { controlPass, runEvery, type LiveEntry } from './control.js';
import { endSession } from './end.js';
import type { EndReason } from './end-reasons.js';
import type { Handover, OwnLiveRow } from '../db/index.js';
import { openConsole, recordingStore, type Door } from './open.js';
import { recoverOrphans, type Recovered } from './recover.js';
import { ConsoleSession, NO_CLIENT, QUIET_MS, type ConsoleClient, type ConsoleObserver, type EndInfo, type Screen } from './session.js';
import { Recorder, type OutagePolicy, type RecordingStore } from '../recording/index.js';
import { storedScreen, tailConsole } from './watch.js';

export interface ConsoleService {
  open(principal: Principal, targetName: string, size: { cols: number; rows: number }, client: ConsoleClient, door: Door): Promise<ConsoleSession>;
  /**
   * A key for carrying on with this browser console after its socket drops, given once to the
   * page that opened it (it keeps it in the tab); undefined when reattaching is off.
   */
  issueReattachKey(session: ConsoleSession): string | undefined;
  /** The page's socket dropped: the console waits `reattachSeconds` for it (or ends now when that is 0). */
  detach(session: ConsoleSession, client: ConsoleClient): void;
  /**
   * Carries on with a console of this user's login that this broker holds, for a page holding
   * its key: refused (audited) for anyone else; a console another window carries moves only
   * with `takeover`. Resolves once `client` has the screen and the output flows to it.
   */
  reattach(principal: Principal, sessionId: string, key: string, client: ConsoleClient, o: { takeover: boolean }): Promise<{ session: ConsoleSession; screen: Screen }>;
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
  /** How long a browser console whose socket dropped waits for its page (config.consoles.reattachSeconds); 0: not at all. */
  reattachSeconds?: number;
  /**
   * A database outage live consoles ride out (config.recordings.buffer): how long, and the most
   * recording all of this broker's consoles may hold meanwhile. Absent: the first failure ends them.
   */
  recordingBuffer?: { seconds: number; bytes: number };
  metrics?: Metrics;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();
/** How long a taker waits for the broker it takes a console from to let go. */
const HANDOVER_WAIT_MS = 10_000;
/** How long a carrier asked for a console has to answer, and an offer may wait to be claimed. */
const OFFER_WAIT_MS = 5_000;
const OFFER_TTL_MS = 15_000;

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
  // What every console's recorder holds while the database is away, against one limit.
  const held = { held: 0, limit: deps.recordingBuffer?.bytes ?? 0 };
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

  /**
   * What a console's recorder does when storage fails: ride out a database outage (the user told
   * both ways, the stretch audited), and otherwise fail closed — a session whose recording cannot
   * be written does not go on unrecorded.
   */
  const recordingHooks = (session: () => ConsoleSession | undefined, targetName: string) => {
    const buffer = deps.recordingBuffer;
    return {
      onRecordingFailure: () => {
        session()?.notice('Recording failed; the session is being closed.');
        void session()?.end({ code: 'recording_failed' });
      },
      ...(buffer && buffer.seconds > 0
        ? {
            outage: (id: string): OutagePolicy => ({
              seconds: buffer.seconds,
              isOutage: (err) => isSallyportError(err, 'DB_UNAVAILABLE'),
              budget: held,
              began: () => session()?.notice(`The database is unavailable: this console goes on and its recording is held on the broker for up to ${buffer.seconds} s (output pauses if that fills). Nothing is lost unless that passes.`),
              ended: (stretch) => {
                session()?.notice(`The database is back: the recording caught up (${stretch.seconds} s held, ${stretch.bytes} bytes).`);
                // Written now the database answers again; the recording carries the same as a marker.
                void audit
                  .append({ actor: 'system', action: 'recording.buffered', subject: id, details: { ...stretch, target: targetName, broker: brokerId } })
                  .catch(() => undefined);
              },
            }),
          }
        : {}),
    };
  };

  /** This broker carries the console from now on: its session, held in `live`. */
  const carry = (c: {
    id: string;
    running: RunningConsole;
    recorder: Recorder;
    client: ConsoleClient;
    target: Target;
    principal: Principal;
    grantId: string | null;
    grantEndsAt?: Date;
    startedAt?: number;
    reattachKeyHash?: Buffer;
  }): ConsoleSession => {
    const entry = { principal: c.principal, target: c.target.name, grantId: c.grantId, ...(c.reattachKeyHash ? { reattachKeyHash: c.reattachKeyHash } : {}) };
    const session = new ConsoleSession(
      c.id,
      c.running,
      c.recorder,
      c.client,
      {
        idleSeconds: c.target.limits.idleTimeout,
        maxSeconds: c.target.limits.maxDuration,
        inputBytesPerSecond: deps.inputBytesPerSecond,
        ...(c.grantEndsAt ? { grantEndsAt: c.grantEndsAt } : {}),
        ...(c.startedAt ? { startedAt: c.startedAt } : {}),
      },
      (info) => storeEnd(c.id, entry, info),
      deps.recorderFlushMs,
      totals,
    );
    live.set(c.id, { ...entry, session });
    return session;
  };

  /**
   * Whether `principal` may carry on with this console: the user who opened it (identity, not
   * name), from the very login that opened it (another login of the same person — a stolen
   * cookie's, an old one's — opens its own), holding its key. Each refusal is audited with why.
   */
  const mayReattach = async (
    principal: Principal,
    sessionId: string,
    key: string,
    owner: { userId: string; username: string; target: string; browserSession: string | null; keyHash: Buffer | null },
  ): Promise<void> => {
    const refuse = async (why: 'another_user' | 'another_login' | 'wrong_key', message: string): Promise<never> => {
      await audit.append({ actor: `user:${principal.userId}`, action: 'console.reattach_refused', subject: sessionId, details: { by: principal.username, username: owner.username, target: owner.target, why, ...(principal.clientAddress ? { clientAddress: principal.clientAddress } : {}) } });
      throw new SallyportError('ACCESS_DENIED', message);
    };
    if (principal.userId !== owner.userId) await refuse('another_user', 'only the user who opened a console may reattach to it (an admin may watch or terminate it)');
    if (!principal.browserSession || principal.browserSession !== owner.browserSession) await refuse('another_login', 'this console belongs to another login of yours: open a new console');
    if (!owner.keyHash || !timingSafeEqual(sha256(key), owner.keyHash)) await refuse('wrong_key', 'this page does not hold the console\'s reattach key: open a new console');
  };

  /**
   * A console this broker does not hold: carried on here if the broker holding it offers it (a
   * drain), after the same checks as any reattach. The handover is exact: this broker attaches
   * while the other still records, freezes the process (the sync point: everything printed
   * before reached the other, which stores it and lets go), and records from the moment it thaws
   * it; what it received before that is the other's and is dropped.
   */
  const carryOn = async (principal: Principal, sessionId: string, key: string, client: ConsoleClient, takeover: boolean): Promise<{ session: ConsoleSession; screen: Screen }> => {
    const row = await consoleCarrier(db, sessionId);
    if (!row || !row.live) throw new SallyportError('NOT_FOUND', `no live console session ${sessionId} to reattach: it has ended (see its recording)`);
    await mayReattach(principal, sessionId, key, { userId: row.user_id, username: row.username, target: row.target, browserSession: row.browser_session?.toString('hex') ?? null, keyHash: row.reattach_key_hash });
    if (draining || row.broker_id === brokerId) throw new SallyportError('RUNTIME_UNAVAILABLE', `console ${sessionId} cannot be carried on by this broker now: reconnect`);
    if (!row.offered) {
      // Carried by another broker (the page came back through a load balancer): asked for.
      if (!(await requestHandover(db, sessionId, takeover))) throw new SallyportError('RUNTIME_UNAVAILABLE', `console ${sessionId} is being moved: reconnect in a moment`);
      const until = Date.now() + OFFER_WAIT_MS;
      let answer: string | undefined;
      while (Date.now() < until) {
        answer = (await handoverOf(db, sessionId))?.handover?.phase;
        if (answer !== 'requested') break;
        await new Promise((r) => setTimeout(r, 50));
      }
      if (answer !== 'offered') await clearRequest(db, sessionId).catch(() => undefined);
      if (answer === 'declined') throw new SallyportError('CONFLICT', 'this console is open in another window: take it over (that window stops) or open a new console');
      if (answer !== 'offered') throw new SallyportError('RUNTIME_UNAVAILABLE', `console ${sessionId}: broker ${row.broker_id} did not hand it over; reconnect`);
    }
    const target = deps.catalog.current().targets.find((t) => t.name === row.target);
    const offer = await claimOffer(db, sessionId, brokerId);
    if (!offer) throw new SallyportError('RUNTIME_UNAVAILABLE', `console ${sessionId} is being taken by another broker: reconnect`);
    const rt = deps.runtimes.get(offer.runtime);
    const handle = { runtime: offer.runtime, node: offer.node, id: offer.container_id };
    starting.add(sessionId);
    let running: RunningConsole | undefined;
    let letGoAt: Handover | undefined;
    try {
      if (!target) throw new SallyportError('ACCESS_DENIED', `target ${row.target} is no longer in the catalogue`);
      if (!rt?.attach) throw new SallyportError('RUNTIME_UNAVAILABLE', `runtime ${offer.runtime} cannot carry on a console here`);
      running = await rt.attach(handle, { cols: offer.header.width, rows: offer.header.height });
      // Until the other lets go, what arrives here is also its, and recorded by it.
      let lastAt = performance.now();
      const sink = () => (lastAt = performance.now());
      running.output.on('data', sink);
      await running.freeze!();
      if (!(await markPaused(db, sessionId, brokerId))) throw new SallyportError('RUNTIME_UNAVAILABLE', `console ${sessionId}: the handover was withdrawn`);
      const until = Date.now() + HANDOVER_WAIT_MS;
      while (Date.now() < until) {
        const h = await handoverOf(db, sessionId);
        if (!h?.live) throw new SallyportError('NOT_FOUND', `console ${sessionId} ended during its handover`);
        if (h.handover?.phase === 'left' && h.broker_id === brokerId) {
          letGoAt = h.handover;
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      if (!letGoAt) throw new SallyportError('RUNTIME_UNAVAILABLE', `console ${sessionId}: broker ${offer.offerer} did not let go in time`);
      while (performance.now() - lastAt < QUIET_MS) await new Promise((r) => setTimeout(r, 50));
      running.output.off('data', sink);
      // Held until the page has its screen (session.reattach resumes it).
      running.output.pause();
    } catch (err) {
      // Not taken: the other still carries it (thawed), or, if it let go already, it ends here.
      if (running) {
        await running.thaw?.().catch(() => undefined);
        running.leave?.();
      }
      if (letGoAt) await abandon(sessionId, offer.target, { code: 'failed_to_start', error: isSallyportError(err) ? err.code : 'INTERNAL' }, handle, rt).catch(() => undefined);
      else await unclaim(db, sessionId, brokerId).catch(() => false);
      starting.delete(sessionId);
      throw err;
    }
    let session: ConsoleSession | undefined;
    try {
      const gapSeconds = Math.max(0, Math.round((Date.now() - (letGoAt.leftAt ?? Date.now())) / 100) / 10);
      const hooks = recordingHooks(() => session, target.name);
      const recorder = await Recorder.resume(
        store,
        sessionId,
        { seq: letGoAt.seq!, chainHash: letGoAt.chainHash!, bytes: letGoAt.bytes!, tEnd: letGoAt.tEnd! },
        gapSeconds,
        readRecordingChunks(db, sessionId),
        {
          recordInput: target.recordInput,
          ...(deps.recorderFlushMs ? { flushIntervalMs: deps.recorderFlushMs } : {}),
          onFailure: hooks.onRecordingFailure,
          ...(hooks.outage ? { outage: hooks.outage(sessionId) } : {}),
        },
      );
      recorder.marker(`carried on by broker ${brokerId}: broker ${offer.offerer} handed it over`);
      await db.transaction(async (tx) => {
        await carried(tx, sessionId, brokerId);
        await audit.append({ actor: 'system', action: 'console.handed_over', subject: sessionId, details: { from: offer.offerer, to: brokerId, gapSeconds, username: row.username, target: target.name } }, tx);
      });
      session = carry({ id: sessionId, running, recorder, client: NO_CLIENT, target, principal, grantId: offer.grant_id, startedAt: offer.started_at.getTime(), ...(offer.reattach_key_hash ? { reattachKeyHash: offer.reattach_key_hash } : {}) });
    } catch (err) {
      await running.thaw?.().catch(() => undefined);
      running.leave?.();
      await abandon(sessionId, offer.target, { code: 'failed_to_start', error: isSallyportError(err) ? err.code : 'INTERNAL' }, handle, rt).catch(() => undefined);
      throw err;
    } finally {
      starting.delete(sessionId);
    }
    const result = await session.reattach(client, () => storedScreen(db, sessionId, offer.header), { moved: 'This console moved to another window of your login.', graceSeconds: deps.reattachSeconds ?? 0 });
    // Thawed last: from here what it prints is this broker's, recorded and sent.
    await running.thaw?.();
    return { session, screen: result.screen };
  };

  /** Ends a console this broker carries but holds no session for, as recovery ends an orphan. */
  const abandon = async (id: string, target: string, reason: EndReason, handle: ConsoleHandle, runtime: Runtime | undefined) => {
    await db.transaction((tx) => endSession(tx, endDeps, { id, actor: 'system', target, reason, counts: null }));
    await runtime?.remove(handle);
  };

  /** The offerer's half: a taker has frozen the console; store what arrived and let go. */
  const letGoOf = async (id: string, taker: string): Promise<void> => {
    const entry = live.get(id);
    if (!entry) return;
    let position;
    try {
      position = await entry.session.leave();
    } catch {
      return;
    }
    live.delete(id);
    // Not recorded as let go (the database away): recovery ends it once this broker has stopped.
    await letGo(db, id, brokerId, taker, position).catch(() => false);
  };

  /**
   * This broker's part in handovers, from each control pass: a request from another broker is
   * answered (offered, unless another window of the login holds the console and the page did
   * not ask to take it over), a console a taker has frozen is let go, and an offer nobody claimed
   * in time is withdrawn.
   */
  const serveHandovers = async (rows: readonly OwnLiveRow[]): Promise<void> => {
    for (const row of rows) {
      const h = row.handover;
      const e = live.get(row.id);
      if (!h || !e) continue;
      if (h.phase === 'requested') {
        const offer = !!e.reattachKeyHash && e.session.canLeave && (!e.session.attached || h.takeover === true);
        if ((await answerRequest(db, row.id, brokerId, offer)) && offer) e.session.moveAway('This console moved to another window of your login.', deps.reattachSeconds ?? 0);
      } else if (h.phase === 'paused' && h.taker) await letGoOf(row.id, h.taker);
      else if (h.phase === 'offered' && !draining && h.at && Date.now() - h.at > OFFER_TTL_MS) await withdrawOffers(db, brokerId, row.id);
    }
  };

  const service: ConsoleService = {
    async open(principal, targetName, size, client, door) {
      if (draining) throw new SallyportError('RUNTIME_UNAVAILABLE', 'this broker is restarting and opens no new consoles: connect again (another broker takes it)');
      let session: ConsoleSession | undefined;
      const t0 = performance.now();
      const opened = await openConsole(deps, principal, targetName, size, door, { starting, store, ...recordingHooks(() => session, targetName) }).catch((err: unknown) => {
        // The name is the user's (a URL, an SSH user name): only a catalogue target is a label of
        // its own, or anyone could grow the metrics without bound by asking for made-up ones.
        const known = deps.catalog.current().targets.some((t) => t.name === targetName);
        deps.metrics?.consoleRefused(known ? targetName : '(unknown)', door.via, isSallyportError(err) ? err.code : 'INTERNAL');
        throw err;
      });
      deps.metrics?.consoleOpened(opened.target.name, door.via, (performance.now() - t0) / 1000);
      session = carry({ id: opened.id, running: opened.running, recorder: opened.recorder, client, target: opened.target, principal, grantId: opened.grantId, ...(opened.grant ? { grantEndsAt: opened.grant.expiresAt } : {}) });
      // Which grant the console runs under, in the words the approver read: with several in force
      // the user must not guess whose justification the record will show.
      if (opened.grant && opened.grantId) {
        client.notice(`This console runs under your approved access "${opened.grant.reason}" (request ${opened.grantId}), until ${opened.grant.expiresAt.toISOString().replace('T', ' ').slice(0, 16)} UTC.`);
      }
      return session;
    },

    issueReattachKey(session) {
      const entry = live.get(session.id);
      if (!entry || !deps.reattachSeconds) return undefined;
      const key = randomBytes(32).toString('base64url');
      const hash = sha256(key);
      // On the row too, for the broker that carries the console on after a drain, which checks
      // it there; not waited for (the page gets its key with `started`, before any output).
      // Without it (the database away) the console is reattached on this broker only.
      void setReattachKeyHash(db, session.id, hash).catch(() => undefined);
      entry.reattachKeyHash = hash;
      return key;
    },

    detach(session, client) {
      if (deps.reattachSeconds && live.get(session.id)?.reattachKeyHash) session.detach(client, deps.reattachSeconds);
      else void session.end({ code: 'client_disconnected' });
    },

    async reattach(principal, sessionId, key, client, { takeover }) {
      const entry = live.get(sessionId);
      if (!entry || !entry.session.live) return carryOn(principal, sessionId, key, client, takeover);
      await mayReattach(principal, sessionId, key, { userId: entry.principal.userId, username: entry.principal.username, target: entry.target, browserSession: entry.principal.browserSession ?? null, keyHash: entry.reattachKeyHash ?? null });
      if (entry.session.attached && !takeover) throw new SallyportError('CONFLICT', 'this console is open in another window: take it over (that window stops) or open a new console');
      const rec = await getRecording(db, sessionId);
      if (!rec) throw new SallyportError('NOT_FOUND', `no recording for console ${sessionId}`);
      const { detachedSeconds, moved, screen } = await entry.session.reattach(client, () => storedScreen(db, sessionId, rec.header as { width: number; height: number }), {
        moved: 'This console moved to another window of your login.',
        graceSeconds: deps.reattachSeconds ?? 0,
      });
      // Not written (the database away): the page is told and tries again; the console waits for it.
      await audit.append({ actor: `user:${principal.userId}`, action: 'console.reattached', subject: sessionId, details: { username: entry.principal.username, target: entry.target, detachedSeconds, takeover: moved, ...(principal.clientAddress ? { clientAddress: principal.clientAddress } : {}) } });
      return { session: entry.session, screen };
    },

    levels() {
      const liveByTarget = new Map<string, number>();
      let recordingBacklog = 0;
      let detached = 0;
      for (const { target, session } of live.values()) {
        liveByTarget.set(target, (liveByTarget.get(target) ?? 0) + 1);
        recordingBacklog += session.recordingBacklog;
        if (!session.attached) detached++;
      }
      return { liveByTarget, bytesIn: totals.bytesIn, bytesOut: totals.bytesOut, recordingBacklog, detached, heldBytes: held.held };
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
      // With another broker alive, browser consoles are offered to it: each page reconnects and
      // the broker it reaches takes its console over, instead of waiting out the drain.
      let offering = false;
      if (deps.reattachSeconds && (await otherLiveBrokers(db, brokerId).catch(() => [])).length > 0) {
        for (const [id, e] of [...live]) {
          if (!e.reattachKeyHash || !(await offerConsole(db, id, brokerId).catch(() => false))) continue;
          offering = true;
          e.session.sendAway('This broker is restarting: your console moves to another broker.');
        }
      }
      const minutes = ms >= 120_000 ? `${Math.round(ms / 60_000)} minutes` : `${Math.round(ms / 1000)} s`;
      for (const e of live.values()) {
        e.session.notice(`This broker is restarting: your console goes on for up to ${minutes}, then it ends. Finish or save your work; a new console opens on another broker.`);
      }
      while (live.size > 0 && Date.now() < until) {
        if (offering) for (const p of await pausedOffers(db, brokerId).catch(() => [])) await letGoOf(p.id, p.taker);
        await new Promise((r) => setTimeout(r, offering ? 100 : 200));
      }
      // What nobody took ends here, as any console still open after the drain.
      if (offering) await withdrawOffers(db, brokerId).catch(() => undefined);
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
          handovers: serveHandovers,
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
      const s = /^[0-9a-f-]{36}$/.test(id) ? await getLiveSession(db, id) : null;
      // Whether it exists is told to those who may watch it only.
      authorizeWatch(principal, s?.user_id ?? '');
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
