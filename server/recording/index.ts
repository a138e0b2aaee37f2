// Public surface of recording.
export { Recorder, type RecordingStore, type RecorderOptions } from './recorder.js';
export { headerLine, eventLine, parseAsciicast, type AsciicastHeader, type ParsedEvent } from './asciicast.js';
