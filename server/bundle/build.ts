// Evidence bundles: one tar archive an auditor can hand on, verifiable offline with no broker
// and no database. It holds the recording (asciicast v2), the session's audit events with the
// chain linking them to a signed checkpoint (other sessions' events in between appear only as
// hashes), the checkpoint signed when the recording was sealed, the JWKS, the approval record,
// and a self-contained HTML player that verifies what it plays (player.ts).
import { canonicalJson, contentHash, subjectCommitment } from '../audit/index.js';
import {
  checkpointCovering,
  getAccessRequest,
  getConsoleSession,
  getRecording,
  listAccessDecisions,
  readAuditEvents,
  recordingCheckpoint,
  type Database,
} from '../db/index.js';
import { SallyportError } from '../errors.js';
import type { Jwks } from '../signing/index.js';
import { playerHtml } from './player.js';
import { tarStream } from './tar.js';
import { recordingBytes, type ObjectStore } from '../storage/index.js';


export interface BundleEvents {
  /** The event just before the excerpt, taken as the chain's anchor. */
  from: { seq: string; hash: string };
  events: Array<
    | { v?: 1 | 2; seq: string; at: string; actor: string; action: string; subject: string | null; details: unknown; prevHash: string; hash: string }
    /**
     * Another session's event: its subject commitment and content hash (chain version 2), from
     * which its link is recomputed; a version-1 event shown so cannot be checked offline.
     */
    | { v?: 1 | 2; seq: string; prevHash: string; hash: string; redacted: true; subject?: string | null; content?: string }
  >;
  checkpoint: { id: string; jws: string };
}


/** The archive's files, with sizes known up front (the recording's from its seal). */
export async function buildBundle(db: Database, sessionId: string, jwks: Jwks, objects: ObjectStore | null = null): Promise<{ name: string; stream: AsyncIterable<Buffer> }> {
  const session = await getConsoleSession(db, sessionId);
  const recording = await getRecording(db, sessionId);
  const sealCheckpoint = await recordingCheckpoint(db, sessionId);
  if (!session || !recording?.sealed_at || !sealCheckpoint) throw new SallyportError('CONFLICT', `session ${sessionId} has no sealed, signed recording yet`);

  // The session's own events (and its grant's), and the chain from just before the first of
  // them to a signed checkpoint that covers the last.
  const subjects = new Set([sessionId, ...(session.grant_id ? [session.grant_id] : [])]);
  const mine = await db.query<{ first: string; last: string }>(
    `select min(seq)::text as first, max(seq)::text as last from audit_events where subject = any($1::text[])`,
    [[...subjects]],
  );
  const first = mine.rows[0]!.first;
  const cover = await checkpointCovering(db, mine.rows[0]!.last);
  if (!first || !cover) throw new SallyportError('CONFLICT', `the events of session ${sessionId} are not under a signed checkpoint yet; try again in 30 s`);
  const anchor = (await db.query<{ seq: string; hash: string }>(`select seq::text, hash from audit_events where seq = $1 - 1`, [first])).rows[0] ?? {
    seq: String(BigInt(first) - 1n),
    hash: '0'.repeat(64),
  };
  const events: BundleEvents['events'] = [];
  for (let after = anchor.seq; BigInt(after) < BigInt(cover.seq); ) {
    const rows = await readAuditEvents(db, after, 1000);
    if (rows.length === 0) break;
    for (const r of rows) {
      if (BigInt(r.seq) > BigInt(cover.seq)) break;
      const related = (r.subject !== null && subjects.has(r.subject)) || (r.details as { grantId?: string }).grantId === session.grant_id && session.grant_id !== null;
      events.push(
        related
          ? { v: r.chain_v, seq: r.seq, at: r.at.toISOString(), actor: r.actor, action: r.action, subject: r.subject, details: r.details, prevHash: r.prev_hash!, hash: r.hash! }
          : r.chain_v === 2
            ? { v: 2, seq: r.seq, prevHash: r.prev_hash!, hash: r.hash!, redacted: true, subject: subjectCommitment(r.subject), content: contentHash(r) }
            : { v: 1, seq: r.seq, prevHash: r.prev_hash!, hash: r.hash!, redacted: true },
      );
    }
    after = rows[rows.length - 1]!.seq;
  }
  const eventsJson: BundleEvents = { from: anchor, events, checkpoint: { id: cover.id, jws: cover.jws } };

  let approval: unknown = null;
  if (session.grant_id) {
    const request = await getAccessRequest(db, session.grant_id);
    const decisions = await listAccessDecisions(db, session.grant_id);
    approval = {
      id: request?.id,
      requester: request?.requester_username,
      target: request?.target,
      image: request?.image,
      command: request?.command,
      reason: request?.reason,
      durationSeconds: request?.duration_seconds,
      status: request?.status,
      decidedAt: request?.decided_at,
      expiresAt: request?.expires_at,
      decisions: decisions.map((d) => ({ approver: d.approver_username, decision: d.decision, comment: d.comment, decidedAt: d.decided_at })),
    };
  }
  const text = (s: string) => Buffer.from(s, 'utf8');
  const files = [
    { name: 'README.txt', body: text(readme(sessionId)) },
    { name: 'events.json', body: text(canonicalJson(eventsJson)) },
    { name: 'recording-checkpoint.jws', body: text(sealCheckpoint.jws) },
    { name: 'jwks.json', body: text(JSON.stringify(jwks)) },
    { name: 'approval.json', body: text(JSON.stringify(approval, null, 2)) },
    { name: 'player.html', body: text(playerHtml({ sessionId, recordingJws: sealCheckpoint.jws, eventsJson: canonicalJson(eventsJson), jwks, approval })) },
  ];
  return {
    name: `sallyport-evidence-${sessionId}.tar`,
    stream: tarStream([
      ...files.map((f) => ({ ...f, size: f.body.length })),
      { name: 'recording.cast', size: Number(recording.size_bytes), body: recordingBytes(db, objects, sessionId) },
    ]),
  };
}

function readme(sessionId: string): string {
  return `Sallyport evidence bundle for console session ${sessionId}

recording.cast             the session's recording (asciicast v2)
recording-checkpoint.jws   signed when the recording was sealed: its sha256, size, duration
events.json                the session's audit events, chained to a signed checkpoint
                           (other sessions' events appear as hashes only)
jwks.json                  the broker's public keys (compare with the broker's published JWKS)
approval.json              the just-in-time approval the session used, if any
player.html                open in a browser, choose recording.cast: it checks the signatures,
                           the audit chain and the recording's hash, then plays it (or says TAMPERED)

Verify offline:  sallyport verify recording ${'<this file>'}.tar [--jwks trusted-jwks.json]
`;
}
