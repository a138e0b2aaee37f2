// The audit hash chain's exact byte encoding, shared by the writer, the verifier and the
// offline bundle verifier. An event's hash is SHA-256 over canonical JSON (keys sorted at
// every level, no whitespace) of a fixed object that includes the previous event's hash.
// Changing anything here breaks every existing chain: the version field is in the encoding.
import { createHash } from 'node:crypto';

/** The hash before the first chained event. */
export const GENESIS_HASH = '0'.repeat(64);

export interface ChainedFields {
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
  return createHash('sha256').update(encodeEvent(e), 'utf8').digest('hex');
}
