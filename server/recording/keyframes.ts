// Keyframes: terminal snapshots of a recording, so a player can restore the nearest one and
// replay only what follows instead of everything from the start. Built by feeding the recorded
// output to @xterm/headless (the same xterm version as the browser player) and serializing its
// screen with addon-serialize — about every 256 KiB of output, and after a resize. Streams the
// recording chunk by chunk; never holds it whole.
import { chunkEvents, resizeOf } from './asciicast.js';
import { SerializeAddon } from '@xterm/addon-serialize';
import xtermHeadless from '@xterm/headless';

const { Terminal } = xtermHeadless;

export interface Keyframe {
  n: number;
  /** Time of the last event of `afterChunk`. */
  t: number;
  afterChunk: number;
  cols: number;
  rows: number;
  screen: string;
}

export interface HeadlessScreen {
  write(data: string): Promise<void>;
  resize(cols: number, rows: number): void;
  serialize(): string;
  /** Visible lines as text (for comparisons). */
  lines(): string[];
  readonly cols: number;
  readonly rows: number;
  dispose(): void;
}

/** Lines of scrollback kept in a snapshot: enough that a later resize reflows as in a full replay. */
const SNAPSHOT_SCROLLBACK = 100;

/** A headless terminal of the player's kind (the player keeps scrollback too). */
export function headlessScreen(cols: number, rows: number): HeadlessScreen {
  const term = new Terminal({ cols, rows, scrollback: 1000, allowProposedApi: true });
  const ser = new SerializeAddon();
  term.loadAddon(ser);
  return {
    // xterm never calls back for an empty write.
    write: (data) => (data ? new Promise<void>((resolve) => term.write(data, resolve)) : Promise.resolve()),
    resize: (c, r) => term.resize(c, r),
    // With some scrollback, a wrapped first screen line is serialized faithfully (with none,
    // addon-serialize shifts the screen by a line).
    serialize: () => ser.serialize({ scrollback: SNAPSHOT_SCROLLBACK }),
    lines: () => {
      const b = term.buffer.active;
      return Array.from({ length: term.rows }, (_, i) => b.getLine(b.viewportY + i)?.translateToString(true) ?? '');
    },
    get cols() {
      return term.cols;
    },
    get rows() {
      return term.rows;
    },
    dispose: () => term.dispose(),
  };
}

export async function* buildKeyframes(
  header: { width: number; height: number },
  chunks: AsyncIterable<{ seq: number; data: Uint8Array; t_end: number | null }>,
  options: { everyBytes?: number } = {},
): AsyncGenerator<Keyframe> {
  const everyBytes = options.everyBytes ?? 256 * 1024;
  const screen = headlessScreen(header.width, header.height);
  let since = 0;
  let n = 0;
  try {
    for await (const chunk of chunks) {
      if (chunk.seq === 0) continue; // the header
      let resized = false;
      let batch = '';
      let lastT = chunk.t_end ?? 0;
      for (const e of chunkEvents(chunk.data)) {
        lastT = e.t;
        if (e.code === 'o') {
          batch += e.data;
          since += Buffer.byteLength(e.data);
        } else if (e.code === 'r') {
          const size = resizeOf(e.data);
          if (size) {
            await screen.write(batch);
            batch = '';
            screen.resize(size.cols, size.rows);
            resized = true;
          }
        }
      }
      await screen.write(batch);
      if (since >= everyBytes || resized) {
        yield { n: n++, t: lastT, afterChunk: chunk.seq, cols: screen.cols, rows: screen.rows, screen: screen.serialize() };
        since = 0;
      }
    }
  } finally {
    screen.dispose();
  }
}
