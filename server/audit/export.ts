// Exporting the audit trail an auditor filtered: JSON lines or CSV, oldest first, streamed a
// page at a time (a million events never sit in memory). The export is itself audited, and it
// ends at its own event: what it holds is fixed when it starts, whatever is appended meanwhile.
import { listAuditTrail, type AuditTrailRow, type Database } from '../db/index.js';
import type { AuditEventRow } from '../db/index.js';

export type AuditExportFormat = 'jsonl' | 'csv';
export const AUDIT_EXPORT_FORMATS: readonly AuditExportFormat[] = ['jsonl', 'csv'];

export interface AuditExport {
  /** The download's file name, e.g. sallyport-audit-20261203T141500Z.csv */
  name: string;
  contentType: string;
  /** The export's own audit event: the last line of the export. */
  throughSeq: string;
  lines: AsyncIterable<string>;
}

const PAGE = 1000;
const CSV_COLUMNS = ['seq', 'at', 'actor', 'actor_name', 'action', 'subject', 'details', 'prev_hash', 'hash', 'chain_v'] as const;

export async function exportAuditTrail(
  db: Database,
  appendExported: (details: { by: string; format: AuditExportFormat; action: string | null; subject: string | null }, actor: string) => Promise<AuditEventRow>,
  by: { userId: string; username: string },
  filter: { actionPrefix?: string; subject?: string },
  format: AuditExportFormat,
): Promise<AuditExport> {
  // Appended before the first byte leaves: no audit event, no export (fail closed).
  const own = await appendExported({ by: by.username, format, action: filter.actionPrefix ?? null, subject: filter.subject ?? null }, `user:${by.userId}`);
  const stamp = new Date(own.at).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return {
    name: `sallyport-audit-${stamp}.${format}`,
    contentType: format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
    throughSeq: own.seq,
    lines: exportLines(db, filter, own.seq, format),
  };
}

async function* exportLines(db: Database, filter: { actionPrefix?: string; subject?: string }, throughSeq: string, format: AuditExportFormat): AsyncGenerator<string> {
  if (format === 'csv') yield `${CSV_COLUMNS.join(',')}\r\n`;
  let afterSeq = '0';
  for (;;) {
    // Oldest first after afterSeq, and below the export's end (its own event included).
    const rows = await listAuditTrail(db, { ...filter, afterSeq, beforeSeq: String(BigInt(throughSeq) + 1n), limit: PAGE });
    if (rows.length === 0) return;
    yield rows.map((r) => (format === 'csv' ? csvLine(r) : jsonLine(r))).join('');
    if (rows.length < PAGE) return;
    afterSeq = rows.at(-1)!.seq;
  }
}

function jsonLine(r: AuditTrailRow): string {
  return `${JSON.stringify({ seq: r.seq, at: new Date(r.at).toISOString(), actor: r.actor, actorName: r.actor_name, action: r.action, subject: r.subject, details: r.details, prevHash: r.prev_hash, hash: r.hash, v: r.chain_v })}\n`;
}

function csvLine(r: AuditTrailRow): string {
  const cells = [r.seq, new Date(r.at).toISOString(), r.actor, r.actor_name ?? '', r.action, r.subject ?? '', JSON.stringify(r.details), r.prev_hash ?? '', r.hash ?? '', String(r.chain_v)];
  return `${cells.map(csvCell).join(',')}\r\n`;
}

/**
 * One RFC 4180 cell. A cell a spreadsheet would run as a formula (=, +, -, @, tab, CR first) is
 * prefixed with a quote (OWASP's CSV injection advice): user names and subjects come from outside.
 * Spreadsheets skip leading spaces and read full-width ＝＋－＠ as their ASCII forms, so those
 * count as a formula's start too.
 */
const FORMULA_START = /^[\s\u3000]*[=+\-@\uFF1D\uFF0B\uFF0D\uFF20]|^[\t\r]/u;
export function csvCell(value: string): string {
  const safe = FORMULA_START.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) || safe !== value ? `"${safe.replace(/"/g, '""')}"` : safe;
}
