// Masks input the terminal does not echo. A password prompt turns echo off, so characters the
// user types never come back as output; we cannot read the container's termios, so we watch:
// printable input waits (briefly) for its echo in the output. Echoed input is recorded as
// typed; input still unechoed after `waitMs` is recorded as one MASK per character, with a
// marker saying masking happened. Errs towards masking: keys a program consumes silently (an
// editor's commands) are masked too, which costs the timeline detail, never a secret.
import { keysTyped, MASK } from './transcript.js';

export interface MaskedInputSink {
  input(data: string): void;
  masked(count: number): void;
}

export class EchoMask {
  private pending = '';
  private seen = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sink: MaskedInputSink,
    private readonly waitMs = 250,
  ) {}

  input(data: string): void {
    if (this.pending === '' && !/[ -~\u00a0-\uffff]/.test(data)) {
      // Controls only (Enter, Ctrl-C, arrows): nothing to echo, nothing secret.
      this.sink.input(data);
      return;
    }
    this.pending += data;
    this.timer ??= setTimeout(() => this.decide(), this.waitMs);
  }

  output(text: string): void {
    if (!this.pending) return;
    this.seen += text;
    if (echoed(this.pending, this.seen)) this.release();
  }

  /** Decides now (session ending). */
  flush(): void {
    if (this.pending) this.decide();
  }

  private release(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.sink.input(this.pending);
    this.pending = '';
    this.seen = '';
  }

  private decide(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (echoed(this.pending, this.seen)) return this.release();
    // Keep controls (Enter, backspace) so the timeline still sees where lines end.
    let masked = '';
    let count = 0;
    for (const ch of keysTyped(this.pending)) {
      if (ch >= ' ' && ch !== '\x7f') {
        masked += MASK;
        count++;
      } else {
        masked += ch;
      }
    }
    this.pending = '';
    this.seen = '';
    if (count > 0) this.sink.masked(count);
    this.sink.input(masked);
  }
}

/** Did the printable characters of `typed` come back, in order, within `out`? */
function echoed(typed: string, out: string): boolean {
  const want = [...keysTyped(typed)].filter((c) => c >= ' ' && c !== '\x7f');
  if (want.length === 0) return true;
  let i = 0;
  for (const c of out) {
    if (c === want[i]) i++;
    if (i === want.length) return true;
  }
  return false;
}
