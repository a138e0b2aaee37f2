// Public surface of replay: keyframe building and the player's reads, and the read side of recordings.
export { createReplay, MAX_CHUNKS_PER_REQUEST, type Replay, type ReplayIndex } from './replay.js';
export { createRecordings, type Recordings, type SearchQuery, type SearchResult } from './recordings.js';
export { startWordIndexer } from './index-words.js';
