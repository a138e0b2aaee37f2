// The read side of finished (and running) recordings: list, get, download, evidence bundle,
// the player's index, chunks and keyframes, the command timeline and search. Every method
// first decides whether the principal may see the session (NOT_FOUND otherwise: no existence
// leak); the live side of consoles is consoles/.
import { maySeeAllSessions, maySeeSession } from '../access/index.js';
import type { Principal } from '../identity/index.js';
import type { AuditLog } from '../audit/index.js';
import { getConsoleSession, listConsoleSessions, listRecordingCommands, searchRecordings, type CommandRow, type ConsoleSessionRow, type Database, type SessionFilter } from '../db/index.js';
import { SallyportError } from '../errors.js';
import { recordingBytes, type ObjectStore } from '../storage/index.js';
import type { Replay, ReplayIndex } from './replay.js';

export interface Recordings {
  /** The principal's own sessions, newest first, narrowed by the filter; auditors and admins see everyone's. */
  list(principal: Principal, filter: Omit<SessionFilter, 'userId'>): Promise<ConsoleSessionRow[]>;
  /** One session, or NOT_FOUND (also when the principal may not see it). */
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

export function createRecordings(deps: {
  db: Database;
  audit: AuditLog;
  replay: Replay;
  /** Builds a session's evidence bundle (bundle/, with the broker's JWKS). */
  bundle: (sessionId: string) => Promise<{ name: string; stream: AsyncIterable<Buffer> }>;
  /** Where moved recordings are (null: the postgres store). */
  objects?: ObjectStore | null;
}): Recordings {
  const { db, audit } = deps;
  const get = async (principal: Principal, id: string): Promise<ConsoleSessionRow> => {
    const row = /^[0-9a-f-]{36}$/.test(id) ? await getConsoleSession(db, id) : null;
    if (!row || !maySeeSession(principal, row.user_id)) throw new SallyportError('NOT_FOUND', `no console session ${id}`);
    return row;
  };
  /** The session, with its recording still kept: one retention removed is gone, said as such. */
  const kept = async (principal: Principal, id: string): Promise<ConsoleSessionRow> => {
    const row = await get(principal, id);
    if (row.expired_at) {
      throw new SallyportError('EXPIRED', `the recording of ${id} was removed by retention on ${row.expired_at.toISOString()} (its hash and the removal are in the audit log: recording.expired)`);
    }
    return row;
  };
  return {
    list(principal, filter) {
      return listConsoleSessions(db, { ...filter, userId: maySeeAllSessions(principal) ? undefined : principal.userId });
    },
    get,
    async recording(principal, id) {
      await kept(principal, id);
      return recordingBytes(db, deps.objects ?? null, id);
    },
    async evidenceBundle(principal, id) {
      const row = await kept(principal, id);
      const bundle = await deps.bundle(id);
      await audit.append({ actor: `user:${principal.userId}`, action: 'evidence.downloaded', subject: id, details: { by: principal.username, username: row.username, target: row.target } });
      return bundle;
    },
    async replayIndex(principal, id) {
      await kept(principal, id);
      return deps.replay.index(id);
    },
    async replayChunks(principal, id, from, to) {
      await kept(principal, id);
      return deps.replay.chunks(id, from, to);
    },
    async keyframe(principal, id, n) {
      await kept(principal, id);
      return deps.replay.keyframe(id, n);
    },
    async commands(principal, id) {
      await kept(principal, id);
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
