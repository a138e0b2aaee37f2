// Public surface of verify.
export { storedEvents, verifyAuditLog, signedRecordingEvidence, verifyStoredRecording } from './stored.js';
export { verifyAuditChain, verifyCheckpoints, type AuditReport, type CheckpointRecord, type EventRecord, type VerifiedCheckpoint } from './audit.js';
export { verifyRecordingChunks, verifyRecordingFile, type RecordingReport } from './recording.js';
export { verifyBundle, type BundleReport } from './bundle.js';
