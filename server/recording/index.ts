// Public surface of recording.
export { sealStoredChunks, TRUNCATED_MARKER, type TruncatedRecording } from './seal-stored.js';
export { Recorder, type BufferedStretch, type ChunkMeta, type OutagePolicy, type RecordingPosition, type RecordingSeal, type RecordingStore, type RecorderOptions } from './recorder.js';
export { EchoMask } from './echo-mask.js';
export { chunkScreenText, indexedText, MASK, screenText, Transcript, type CommandLine, type TextSegment } from './transcript.js';
export { chunkHash, RECORDING_GENESIS } from './chain.js';
export { headerLine, eventLine, parseAsciicast, chunkEvents, resizeOf, type AsciicastHeader, type ParsedEvent } from './asciicast.js';
