// What a recording says in words: the command lines the user entered (reconstructed from input
// while recording: typing, backspace, Ctrl-U, Enter), stored beside the chunk they came from, and
// the text shown on screen (escape sequences removed), worked out per stored chunk by the search
// indexer, off the console's path. Search and the command timeline never re-read a long recording.
import { chunkEvents } from './asciicast.js';

/** Masked input is stored as this character, one per key. */
export const MASK = '•';

export interface TextSegment {
  /** Seconds since the recording began, of the first text in the segment. */
  t: number;
  text: string;
}

export interface CommandLine {
  t: number;
  line: string;
  /** Some of the line was typed without echo and is masked. */
  masked: boolean;
}

// CSI, OSC (ended by BEL or ST), other two-byte escapes, then C0 controls except \n and \t.
const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[P^_][^\x1b]*\x1b\\|\x1b[@-Z\\-_]|\x1b.|[\x00-\x08\x0b-\x1f\x7f]/g;

// Escape sequences a key sends (arrows, function keys): CSI, SS3, other two-byte escapes.
const KEY_ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1bO.|\x1b./g;

/** Typed input without the escape sequences keys send; what is left are characters and controls. */
export function keysTyped(input: string): string {
  return input.replace(KEY_ESCAPES, '');
}

export function screenText(output: string): string {
  return output.replace(ESCAPES, '');
}

/**
 * Screen text of one chunk kept for search: all of it up to `cap` characters (a prompt, a
 * command's answer, a screenful: what a person reads), else its first and last `cap / 2`, cut
 * between words. A chunk holds at most about a second of output, so a flood (a log dump, `seq`, a hex
 * dump) is searchable where each second of it begins and ends, at a bounded cost per MiB, while
 * interactive work is indexed whole. The recording itself keeps every byte.
 */
export function indexedText(text: string, cap: number): string {
  if (text.length <= cap) return text;
  const half = Math.floor(cap / 2);
  // Cut between words (a line end, else a space), so no word is indexed in part.
  const head = text.slice(0, half);
  const headEnd = Math.max(head.lastIndexOf('\n'), head.lastIndexOf(' '));
  const tail = text.slice(text.length - half);
  const tailStart = tail.search(/\s/);
  return `${headEnd > 0 ? head.slice(0, headEnd) : head}\n…\n${tailStart >= 0 ? tail.slice(tailStart + 1) : tail}`;
}

/**
 * The screen text of a stored chunk (its output events, escapes removed), with the time of its
 * first output; undefined when it shows no text. A sequence split between two events of the
 * chunk is removed whole.
 */
export function chunkScreenText(chunk: string): TextSegment | undefined {
  const outputs = chunkEvents(chunk).filter((e) => e.code === 'o');
  if (outputs.length === 0) return undefined;
  const text = screenText(outputs.map((e) => e.data).join(''));
  return text ? { t: outputs[0]!.t, text } : undefined;
}

const MAX_COMMAND_CHARS = 4096;

export class Transcript {
  private line = '';
  private lineStart: number | undefined;
  private lineMasked = false;
  private lines: CommandLine[] = [];

  input(t: number, data: string, masked = false): void {
    // Escape sequences (arrows, function keys) move a cursor we do not model: drop them.
    const keys = keysTyped(data);
    // Plain text (a paste, a flood): one append, not a loop over every character.
    if (!/[\x00-\x1f\x7f]/.test(keys)) {
      if (!keys) return;
      this.lineStart ??= t;
      if (this.line.length < MAX_COMMAND_CHARS) this.line += keys.slice(0, MAX_COMMAND_CHARS - this.line.length);
      if (masked || keys.includes(MASK)) this.lineMasked = true;
      return;
    }
    for (const ch of keys) {
      if (ch === '\r' || ch === '\n') {
        if (this.line.trim()) this.lines.push({ t: this.lineStart ?? t, line: this.line, masked: this.lineMasked });
        this.line = '';
        this.lineStart = undefined;
        this.lineMasked = false;
      } else if (ch === '\x7f' || ch === '\b') {
        this.line = [...this.line].slice(0, -1).join('');
      } else if (ch === '\x15' || ch === '\x03') {
        this.line = '';
        this.lineMasked = false;
      } else if (ch >= ' ') {
        this.lineStart ??= t;
        // A command line is a line a person types: past this, the rest is not kept (a flood
        // without newlines must not grow one string without bound).
        if (this.line.length < MAX_COMMAND_CHARS) this.line += ch;
        if (masked || ch === MASK) this.lineMasked = true;
      }
    }
  }

  /** The lines finished since the last take. */
  take(): { commands: CommandLine[] } {
    const taken = { commands: this.lines };
    this.lines = [];
    return taken;
  }
}
