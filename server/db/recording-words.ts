// Repository: what recordings say in words — the queue the recorder fills with each chunk, the
// indexed screen text and command lines it is moved into, the command timeline and search.
import { decodeChunk } from './chunk-codec.js';
import type { Database, Queryable } from './database.js';

/** A queued chunk this small (its bytes) is a prompt or a few lines: it never waits for bulk. */
const SMALL_CHUNK = 4096;
const stored = (alias: string) => `coalesce(${alias}.output_bytes, pg_column_size(${alias}.text), 0)`;

/**
 * The queued chunks to index next, longest-waiting first. While any small chunk waits (what a
 * person types and reads), only small ones: they are cheap, and a word on a quiet console is
 * searchable within a batch or two however much bulk output is queued. Otherwise only the
 * oldest chunk of each console (its head), so a console printing a flood has one chunk in each
 * batch, like every other, and the bulk drains in order at the indexer's budget. A chunk another
 * broker holds is skipped, never indexed twice.
 */
const NEXT_CHUNKS = `select q.session_id, q.seq from recording_index_queue q
  where case when exists (select 1 from recording_index_queue s where ${stored('s')} <= ${SMALL_CHUNK})
             then ${stored('q')} <= ${SMALL_CHUNK}
             else q.seq = (select min(h.seq) from recording_index_queue h where h.session_id = q.session_id) end
  order by q.queued_at, q.session_id`;

/** A claimed queue row: its text as queued before migration 018, or its chunk's bytes as text. */
export interface QueuedWords {
  session_id: string;
  seq: number;
  /** Screen text carried by the row itself (rows queued before 018), with its time. */
  text: string | null;
  t: number | null;
  /** The stored chunk (asciicast event lines), when the indexer must work out its screen text. */
  chunk: string | null;
  /** The last output characters before this chunk (a word split at the boundary). */
  carry: string | null;
}

/**
 * Claims up to `limit` queued chunks for the caller's transaction (rows another broker holds are
 * skipped, never indexed twice), with what the indexer needs to work out their screen text.
 */
export async function claimQueuedWords(tx: Queryable, limit: number): Promise<QueuedWords[]> {
  const { rows } = await tx.query<Omit<QueuedWords, 'chunk'> & { data: Buffer | null; encoding: string | null }>(
    `select q.session_id, q.seq, q.text, q.t, q.carry,
            case when q.text is null and q.output_bytes is not null then c.data end as data, c.encoding
       from (${NEXT_CHUNKS} limit $1 for update skip locked) pick
       join recording_index_queue q on q.session_id = pick.session_id and q.seq = pick.seq
       left join recording_chunks c on c.session_id = q.session_id and c.seq = q.seq`,
    [limit],
  );
  return Promise.all(
    rows.map(async ({ data, encoding, ...r }) => ({ ...r, chunk: data === null ? null : (await decodeChunk({ data, encoding })).toString('utf8') })),
  );
}

/**
 * Moves claimed chunks into the indexed tables, with the screen text the indexer worked out for
 * each (null: none), and off the queue. Returns how many chunks were indexed.
 */
export async function storeIndexedWords(tx: Queryable, chunks: Array<{ session_id: string; seq: number; t: number | null; text: string | null }>): Promise<number> {
  if (chunks.length === 0) return 0;
  // One row of parameters per chunk, not arrays: pg escapes every character of a text[] literal
  // in JavaScript, which for a megabyte of screen text costs more than the insert.
  const params: unknown[] = [TEXT_PART_CHARS];
  const rows = chunks.map((c) => {
    params.push(c.session_id, c.seq, c.t, c.text);
    const n = params.length;
    return `($${n - 3}::uuid, $${n - 2}::integer, $${n - 1}::float8, $${n}::text)`;
  });
  const { rows: counted } = await tx.query<{ n: string }>(
    `with picked (session_id, seq, t, text) as (
       values ${rows.join(', ')}
     ), batch as (
       delete from recording_index_queue q using picked p
        where q.session_id = p.session_id and q.seq = p.seq
       returning q.session_id, q.seq, q.commands
     ), screen as (
       insert into recording_text (session_id, seq, t, kind, part, text)
       select p.session_id, p.seq, p.t, 'output', g.part, substr(p.text, g.part * $1 + 1, $1)
         from picked p, generate_series(0, (length(p.text) - 1) / $1) as g(part)
        where p.text is not null and p.text <> ''
     ), typed as (
       insert into recording_commands (session_id, seq, n, t, line, masked)
       select b.session_id, b.seq, c.n, c.t, c.line, c.masked
         from batch b, rows from (jsonb_to_recordset(b.commands) as (t float8, line text, masked boolean)) with ordinality as c(t, line, masked, n)
     )
     select count(*)::text as n from batch`,
    params,
  );
  return Number(counted[0]?.n ?? 0);
}

/** Anything queued for the index at all: one cheap look before a transaction is begun for it. */
export async function wordsQueued(db: Queryable): Promise<boolean> {
  const { rows } = await db.query<{ queued: boolean }>(`select exists (select 1 from recording_index_queue) as queued`);
  return rows[0]?.queued ?? false;
}

/** Screen text is indexed in parts this long: a tsvector holds at most 1 MiB. */
const TEXT_PART_CHARS = 256 * 1024;

/**
 * Drops the oldest queued chunk from the queue without indexing it: only for a row the index
 * refuses (the caller logs which); the recording itself is untouched.
 */
export async function skipQueuedWords(db: Queryable): Promise<{ session_id: string; seq: number } | null> {
  const { rows } = await db.query<{ session_id: string; seq: number }>(
    `delete from recording_index_queue q
      using (${NEXT_CHUNKS} limit 1 for update skip locked) pick
      where q.session_id = pick.session_id and q.seq = pick.seq
     returning q.session_id, q.seq`,
  );
  return rows[0] ?? null;
}

export interface CommandRow {
  t: number;
  line: string;
  masked: boolean;
}

/** The command timeline, complete at once: indexed lines and those still queued for the index. */
export async function listRecordingCommands(db: Queryable, sessionId: string, limit = 5000): Promise<CommandRow[]> {
  const { rows } = await db.query<CommandRow>(
    `select t, line, masked from (
       select seq, n, t, line, masked from recording_commands where session_id = $1
       union all
       select q.seq, c.n, c.t, c.line, c.masked
         from recording_index_queue q, rows from (jsonb_to_recordset(q.commands) as (t float8, line text, masked boolean)) with ordinality as c(t, line, masked, n)
        where q.session_id = $1
     ) lines
     order by seq, n
     limit $2`,
    [sessionId, limit],
  );
  return rows;
}

export interface SearchHit {
  session_id: string;
  t: number;
  kind: 'output' | 'input';
  text: string;
  username: string;
  target: string;
  started_at: Date;
  grant_id: string | null;
}

/**
 * Full-text (simple) or substring (trigram) matches in screen text and typed commands, newest
 * sessions first. `userId` limits to one owner (a user who may only see their own).
 */
export async function searchRecordings(
  db: Database,
  f: { query: string; userId?: string; username?: string; target?: string; from?: Date; to?: Date; approvedOnly?: boolean; grantId?: string; limit: number },
): Promise<SearchHit[]> {
  const like = `%${f.query.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  // The sessions the reader may see and asked for first, then their words only: a developer's
  // query never scans everyone's text. Bounded in time whoever asks.
  return db.transaction(async (tx) => {
    await tx.query(`set local statement_timeout = '10s'`);
    const { rows } = await tx.query<SearchHit>(
      `with visible as materialized (
         select s.id, s.target, s.started_at, s.grant_id, u.username
           from console_sessions s
           join users u on u.id = s.user_id
          where ($3::uuid is null or s.user_id = $3)
            and ($4::text is null or u.username = $4)
            and ($5::text is null or s.target = $5)
            and ($6::timestamptz is null or s.started_at >= $6)
            and ($7::timestamptz is null or s.started_at < $7)
            and (not $8::boolean or s.grant_id is not null)
            and ($9::uuid is null or s.grant_id = $9)
       ), hits as (
         select t.session_id, t.seq, 'output' as kind, t.text from recording_text t
          where t.session_id in (select id from visible) and (to_tsvector('simple', t.text) @@ websearch_to_tsquery('simple', $1) or t.text ilike $2)
         union all
         select c.session_id, c.seq, 'input' as kind, c.line from recording_commands c
          where c.session_id in (select id from visible) and (to_tsvector('simple', c.line) @@ websearch_to_tsquery('simple', $1) or c.line ilike $2)
       )
       -- The end of the chunk that holds the hit: by then the words are on screen.
       select h.session_id, c.t_end as t, h.kind, h.text, v.username, v.target, v.started_at, v.grant_id
         from hits h
         join visible v on v.id = h.session_id
         join recording_chunks c on c.session_id = h.session_id and c.seq = h.seq
        order by v.started_at desc, c.t_end
        limit $10`,
      [f.query, like, f.userId ?? null, f.username ?? null, f.target ?? null, f.from ?? null, f.to ?? null, f.approvedOnly ?? false, f.grantId ?? null, f.limit],
    );
    return rows;
  });
}
