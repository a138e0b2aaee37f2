// Public surface of recording storage: where a sealed recording's bytes live (PostgreSQL or an
// object store), the readers every consumer of a recording goes through, and the mover.
export { createObjectStore, type ObjectStore } from './objects.js';
export { chunkRange, recordingBytes, storedChunks } from './chunks.js';
export { createRecordingMover, type RecordingMover } from './mover.js';
