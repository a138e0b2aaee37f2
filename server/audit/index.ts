// Public surface of audit.
export { AUDIT_ACTIONS, createAuditLog, type AuditEvents, type AuditAction, type AuditEntry, type AuditLog } from './log.js';
export type { AuditEventRow, AuditTrailRow } from '../db/index.js';
export { canonicalJson, CHAIN_VERSION, contentHash, encodeEvent, GENESIS_HASH, hashEvent, linkHash, subjectCommitment, type ChainedFields, type ChainVersion } from './chain.js';
export { AUDIT_EXPORT_FORMATS, csvCell, exportAuditTrail, type AuditExport, type AuditExportFormat } from './export.js';
export { createCheckpointer, type Checkpointer, type CheckpointPayload, type RecordingEvidence } from './checkpoints.js';
export { recordRestore, type RestoreRecord } from './restore.js';
