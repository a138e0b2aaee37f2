// The audit hash chain's exact byte encoding, shared by the writer, the verifier and the
// offline bundle verifier (the bundle's player repeats it in browser JavaScript). Changing
// anything here breaks every existing chain: the version is in the encoding and in the row.
//
// Version 1 (events before migration 021): SHA-256 over canonical JSON of the whole event with
// the previous hash. Version 2: SHA-256 over canonical JSON of {seq, prev, subject commitment,
// content hash}, where the content hash covers the event's time, actor, action, subject and
// details. A bundle shows another session's event only as its subject commitment and content
// hash, and its link still recomputes; the commitment lets a verifier see that no event of
// the bundle's own session (or grant) is among the hidden ones.
import { createHash } from 'node:crypto';

/** The hash before the first chained event. */
export const GENESIS_HASH = '0'.repeat(64);

/** What new events are chained with. */
export type ChainVersion = 1 | 2;
export const CHAIN_VERSION: ChainVersion = 2;

export interface ChainedFields {
  /** Absent means 1: rows and exports from before version 2 carry none. */
  v?: ChainVersion;
  seq: string;
  at: Date;
  actor: string;
  action: string;
  subject: string | null;
  details: unknown;
  prevHash: string;
}

/** JSON with object keys sorted at every level; the same value always gives the same bytes. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    // undefined, functions and symbols have no JSON form; inside objects they are dropped.
    return text === undefined ? 'null' : text;
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined && typeof v !== 'function' && typeof v !== 'symbol')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * The subject as a redacted event shows it: a session's or grant's id is a random UUID, so its
 * commitment reveals nothing, yet a verifier holding the id recognises it.
 */
export function subjectCommitment(subject: string | null): string | null {
  return subject === null ? null : sha256(`sallyport.audit-subject:${subject}`);
}

/** Version 2's hash of what an event says (everything but its place in the chain). */
export function contentHash(e: Pick<ChainedFields, 'at' | 'actor' | 'action' | 'subject' | 'details'>): string {
  return sha256(canonicalJson({ at: e.at.toISOString(), actor: e.actor, action: e.action, subject: e.subject, details: e.details }));
}

/** Version 2's link: what a redacted event still lets anyone recompute. */
export function linkHash(l: { seq: string; prevHash: string; subjectCommitment: string | null; contentHash: string }): string {
  return sha256(canonicalJson({ v: 2, seq: l.seq, prev: l.prevHash, subject: l.subjectCommitment, content: l.contentHash }));
}

/** Version 1's encoding (kept for events chained before version 2, and the evidence benchmark). */
export function encodeEvent(e: ChainedFields): string {
  return canonicalJson({
    v: 1,
    seq: e.seq,
    at: e.at.toISOString(),
    actor: e.actor,
    action: e.action,
    subject: e.subject,
    details: e.details,
    prev: e.prevHash,
  });
}

export function hashEvent(e: ChainedFields): string {
  if ((e.v ?? 1) === 1) return sha256(encodeEvent(e));
  return linkHash({ seq: e.seq, prevHash: e.prevHash, subjectCommitment: subjectCommitment(e.subject), contentHash: contentHash(e) });
}
