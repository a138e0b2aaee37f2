// The live consoles this broker holds, and the once-a-second control pass over them: grants
// that expired or were revoked, users the catalogue no longer allows, logins that ended (logout,
// expiry; a console in use keeps its login from idling out), terminations asked for on
// any broker, watchers (on any broker) to tell the user about, and this broker's live rows that
// belong to no console (a start that failed while the database was away). A NOTIFY on the
// control channel runs the pass at once; the tick is what guarantees it.
import { mayUseTarget, type AccessRequests } from '../access/index.js';
import type { Principal } from '../identity/index.js';
import type { CatalogStore } from '../catalog/index.js';
import type { AuditLog } from '../audit/index.js';
import { ownLiveSessions, touchLoginsOfConsoles, type Database, type OwnLiveRow } from '../db/index.js';
import { endSession } from './end.js';
import type { EndReason } from './end-reasons.js';
import type { ConsoleSession } from './session.js';

export interface LiveEntry {
  session: ConsoleSession;
  principal: Principal;
  target: string;
  grantId: string | null;
  /** The SHA-256 of the key a page of the opener's login reattaches with (browser consoles only). */
  reattachKeyHash?: Buffer;
}

export interface ControlDeps {
  db: Database;
  audit: AuditLog;
  access: AccessRequests;
  catalog: CatalogStore;
  brokerId: string;
  live: ReadonlyMap<string, LiveEntry>;
  starting: ReadonlySet<string>;
  /** Touch a live console's login when it was last touched longer ago than this (under its idle timeout). */
  loginTouchSeconds: number;
  /** This broker's part in handovers of its consoles (requests to answer, frozen ones to let go). */
  handovers?(rows: readonly OwnLiveRow[]): Promise<void>;
}

export function controlPass(deps: ControlDeps): () => Promise<void> {
  const { db, live } = deps;
  return async () => {
    await deps.access.expire();
    const rows = await ownLiveSessions(db, deps.brokerId);
    // An approved extension moved consoles to its grant (access/requests.ts): follow it before
    // judging grants, so the old one ending ends nothing that runs on under the new one.
    for (const row of rows) {
      const e = live.get(row.id);
      if (e && row.grant_id && e.grantId && row.grant_id !== e.grantId && row.grant_expires_at) {
        e.grantId = row.grant_id;
        e.session.grantExtended(row.grant_id, row.grant_expires_at);
      }
    }
    const entries = [...live.entries()].filter(([, e]) => e.session.live);
    const grants = entries.flatMap(([, e]) => (e.grantId ? [e.grantId] : []));
    const dead = new Map((await deps.access.deadGrants(grants)).map((g) => [g.id, g.status]));
    const targets = deps.catalog.current().targets;
    for (const [, e] of entries) {
      const why = e.grantId ? dead.get(e.grantId) : undefined;
      const target = targets.find((t) => t.name === e.target);
      if (why) void e.session.end({ code: 'grant_ended', status: why });
      else if (!target || !mayUseTarget(e.principal, target)) void e.session.end({ code: 'access_removed' });
    }
    await touchLoginsOfConsoles(db, deps.brokerId, deps.loginTouchSeconds);
    for (const row of rows) {
      const session = live.get(row.id)?.session;
      if (!session) {
        // A row of ours that belongs to no console: its start failed while the database was away.
        if (deps.starting.has(row.id)) continue;
        // Ended like any failed start: audited, its recording sealed, its grant's use given back.
        const reason: EndReason = { code: 'failed_to_start', error: 'DB_UNAVAILABLE' };
        await db.transaction((tx) =>
          endSession(tx, { audit: deps.audit, returnGrantUse: deps.access.returnGrantUse }, {
            id: row.id,
            actor: 'system',
            target: row.target,
            reason,
            counts: null,
            // Its open removed the container when marking it started failed; if that failed too,
            // the reaper removes it (a container of this broker that no console holds).
            released: true,
            failedStart: { image: row.image, code: 'DB_UNAVAILABLE', grantId: row.grant_id },
          }),
        );
      } else if (row.terminate_by !== null) void session.end({ code: 'terminated', by: row.terminate_by, reason: row.terminate_reason ?? '' });
      else if (row.login_ended !== null) void session.end({ code: 'login_ended', why: row.login_ended });
      else session.setWatchers(row.watchers);
    }
    await deps.handovers?.(rows);
  };
}

/** Runs `pass` every intervalMs and whenever `kick` is called, never two at once. */
export function runEvery(pass: () => Promise<void>, intervalMs: number): { kick(): void; stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  const kick = () => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = pass()
      // The next tick tries again; a database outage must not stop the control pass.
      .catch(() => undefined)
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          kick();
        }
      });
  };
  const timer = setInterval(kick, intervalMs);
  timer.unref();
  return {
    kick,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
