// Public surface of recording.
export { Recorder, type RecordingSeal, type RecordingStore, type RecorderOptions } from './recorder.js';
export { chunkHash, RECORDING_GENESIS } from './chain.js';
export { headerLine, eventLine, parseAsciicast, type AsciicastHeader, type ParsedEvent } from './asciicast.js';
