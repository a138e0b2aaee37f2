// Masks input the terminal does not echo. A password prompt turns echo off, so characters the
// user types never come back as output; we cannot read the container's termios, so we watch:
// printable input waits (briefly) for its echo. It counts as echoed only when the terminal
// echoes it in place: the very next output (escape sequences aside) begins with exactly the
// typed characters, within `waitMs` of the last key or of the last piece of that echo. Anything
// else — no output, or other output first (a background job printing while a password is
// typed) — is recorded as one MASK per character, with a marker saying masking happened. One
// exception: keys typed ahead of the next prompt (a REPL still printing its answer, or its prompt
// on a loaded machine) count as echoed when the output since them ends a prompt (`$ `, `> `, `# `,
// `% `; never `: `, which asks for passwords) or a line and then shows exactly those keys. Errs towards
// masking otherwise: keys a program consumes silently (an editor's commands), and keys typed
// ahead of other output, are masked, which costs the timeline detail, never a secret.
import { keysTyped, MASK, screenText } from './transcript.js';

/**
 * What ends a prompt, right before typed-ahead keys are echoed: a shell's `$ `/`# `/`% `, a REPL's
 * `> ` (irb, php -a, psysh, python). Not `: `: that is how a password is asked for.
 */
const PROMPT_END = /[$#%>] ?$/;
/** How much of the output before a typed-ahead echo is kept to find the prompt's end in. */
const PROMPT_TAIL = 2;

/** Input held while its echo is awaited; beyond this it is decided at once (masked unless echoed). */
const MAX_PENDING_CHARS = 16 * 1024;
/**
 * An echo that keeps arriving in place (each output a longer prefix of what was typed) renews the
 * wait, so a loaded machine echoing a burst of keys slowly does not mask them; never beyond this
 * from the first pending key, so held input is bounded in time as well as size.
 */
const MAX_WAIT_MS = 2000;
/**
 * A paste of several lines is echoed line by line between the program's answers, and a REPL
 * evaluating each line (a Rails console on a loaded machine) can take seconds per line. Once a
 * line has been found echoed, the next one is waited for `PASTE_LINE_WAITS` key windows after
 * the last progress, never beyond this from the first key: the held input stays bounded in
 * time, as MAX_PENDING_CHARS bounds it in size. Longer waits only delay masking: a line is
 * recorded as typed only when its exact keys appear in the output.
 */
const PASTE_MAX_WAIT_MS = 60_000;
const PASTE_LINE_WAITS = 5;

export interface MaskedInputSink {
  input(data: string): void;
  masked(count: number): void;
  /** Lines of a paste recorded as typed because each was echoed, with other output between them. */
  pasted?(lines: number): void;
}

export class EchoMask {
  private pending = '';
  private seen = '';
  private wanted: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private since = 0;
  /**
   * For input of several lines: each line's raw input and printable keys, worked out once per
   * input, and whether there are several (undefined: not worked out since the last input).
   */
  private lines: { all: Array<{ raw: string; keys: string }>; several: boolean } | undefined;
  /** Lines of a paste found echoed so far; `seen` then holds only the output after the last of them. */
  private linesFound = 0;
  /**
   * Other output came before any echo of a single line: it may still be typed ahead of a prompt,
   * but only until the next line is typed, which must not join it (a password and the command after).
   */
  private otherFirst = false;
  /** Once other output came first: its tail with line breaks kept (`seen` drops them). */
  private tailWithBreaks = '';

  constructor(
    private readonly sink: MaskedInputSink,
    // The first echo's wait. 250 ms masked ordinary commands when a loaded machine (the whole
    // suite on two cores) took longer to echo the first key; a password never echoes, so a longer
    // wait only delays its masking.
    private readonly waitMs = 600,
  ) {}

  input(data: string): void {
    // A new line typed after one whose echo never began in place: that line is decided on its
    // own (a password, then the next command). The rest of the same line still joins it.
    if (this.otherFirst && /[\r\n]$/.test(this.pending)) this.decide();
    if (this.pending === '' && !/[ -~\u00a0-\uffff]/.test(data)) {
      // Controls only (Enter, Ctrl-C, arrows): nothing to echo, nothing secret.
      this.sink.input(data);
      return;
    }
    this.pending += data;
    this.wanted = undefined;
    this.lines = undefined;
    // Waiting longer for the echo of more than a large paste costs more than it tells: decide.
    if (this.pending.length > MAX_PENDING_CHARS) return this.decide();
    if (!this.timer) {
      this.since = Date.now();
      this.timer = setTimeout(() => this.decide(), this.waitMs);
    } else this.renew();
  }

  output(text: string): void {
    if (!this.pending) return;
    // Line breaks aside: a shell wrapping a long line inserts them into its echo.
    const before = this.seen.length;
    const shown = screenText(text);
    this.seen += shown.replace(/[\n\t]/g, '');
    // Typed ahead, line breaks kept: a terminal in cooked mode echoes keys typed ahead at the start
    // of the line below the last answer, before the program prompts (irb between two lines).
    if (this.otherFirst) this.tailWithBreaks = (this.tailWithBreaks + shown.replace(/\t/g, '')).slice(-(this.want().length + PROMPT_TAIL + 1));
    const lines = this.pasteLines();
    if (lines) {
      // A paste of several lines: a REPL echoes each line, answers it and prompts again before the
      // next line's echo. Each line counts as echoed when its keys appear whole, in order, in the
      // output since; what comes between lines (answers, prompts) is the program's. A line that
      // appears nowhere is masked. A single line keeps the strict rule below (a password is one).
      const found = this.findEchoedLines(lines);
      if (found === lines.length) return this.release(lines.length);
      // Once a line was found, any output renews the wait: a loaded REPL redrawing and answering
      // a long paste is slow but not silent. Still within PASTE_MAX_WAIT_MS of the first key.
      if (found > 0) this.renew(PASTE_MAX_WAIT_MS, this.waitMs * PASTE_LINE_WAITS);
      return;
    }
    const want = this.want();
    // Once other output came first, `seen` is only a tail: "in place" no longer means anything.
    const verdict = this.otherFirst ? 'not echoed' : echoedInPlace(want, this.seen);
    if (verdict === 'echoed') this.release();
    else if (verdict === 'not echoed') {
      // Other output came first: echoed only if it ends a prompt or a line and the keys follow whole.
      if (!this.otherFirst) this.tailWithBreaks = shown.replace(/\t/g, '').slice(-(want.length + PROMPT_TAIL + 1));
      this.otherFirst = true;
      if (echoedAfterPrompt(want, this.seen) || echoedAtLineStart(want, this.tailWithBreaks)) return this.release();
      // Only the tail that can still hold a prompt's end and a part of the echo is worth keeping.
      const kept = Math.min(this.seen.length, want.length - 1 + PROMPT_TAIL);
      this.seen = this.seen.slice(this.seen.length - kept);
      if (this.seen.length > 0 && text.length > 0) this.renew();
    } else if (this.seen.length > before) this.renew();
  }

  /** Decides now (session ending). */
  flush(): void {
    if (this.pending) this.decide();
  }

  /**
   * The printable characters of the pending input, worked out once per input rather than once
   * per output chunk: output arrives in many small chunks while a large paste waits for its echo.
   * input() is the only place pending grows, so it alone forgets the cached value.
   */
  private want(): string {
    return (this.wanted ??= printableKeys(this.pending));
  }

  /** Several lines of input (a paste), or undefined for one line. */
  private pasteLines(): Array<{ raw: string; keys: string }> | undefined {
    if (!this.lines) {
      const all = this.pending.split(/(?<=[\r\n])/).map((raw) => ({ raw, keys: printableKeys(raw) }));
      this.lines = { all, several: all.filter((l) => l.keys.length > 0).length > 1 };
    }
    return this.lines.several ? this.lines.all : undefined;
  }

  /**
   * How many of the lines, from the first, appear whole and in order in the output since the
   * input (escape sequences and line breaks removed); a line without keys (a bare Enter) is found.
   * The output is read once: it is consumed up to each line found, and while the next line is not
   * found only its length less one is kept, so a program printing for the whole wait costs neither
   * memory nor a rescan. Found lines stay found when more keys arrive: only the last line, never
   * found, can grow.
   */
  private findEchoedLines(lines: ReadonlyArray<{ keys: string }>): number {
    while (this.linesFound < lines.length) {
      const keys = lines[this.linesFound]!.keys;
      if (keys.length > 0) {
        const i = this.seen.indexOf(keys);
        if (i < 0) {
          this.seen = this.seen.slice(Math.max(0, this.seen.length - keys.length + 1));
          break;
        }
        this.seen = this.seen.slice(i + keys.length);
      }
      this.linesFound++;
    }
    return this.linesFound;
  }

  /** More keys, or more of their echo: wait the window again, within `maxWaitMs` of the first key. */
  private renew(maxWaitMs = MAX_WAIT_MS, windowMs = this.waitMs): void {
    const left = this.since + maxWaitMs - Date.now();
    if (left <= 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.decide(), Math.min(windowMs, left));
  }

  private release(pastedLines = 0): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (pastedLines > 1) this.sink.pasted?.(pastedLines);
    this.sink.input(this.pending);
    this.reset();
  }

  private reset(): void {
    this.pending = '';
    this.seen = '';
    this.lines = undefined;
    this.linesFound = 0;
    this.wanted = undefined;
    this.otherFirst = false;
    this.tailWithBreaks = '';
  }

  private decide(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const lines = this.pasteLines();
    if (lines) {
      // The lines echoed so far are recorded as typed; the rest, never echoed, is masked.
      const found = this.findEchoedLines(lines);
      if (found === lines.length) return this.release(lines.length);
      const echoed = lines.slice(0, found).map((l) => l.raw).join('');
      const rest = lines.slice(found).map((l) => l.raw).join('');
      if (found > 1) this.sink.pasted?.(found);
      if (echoed) this.sink.input(echoed);
      this.pending = rest;
      this.lines = undefined;
      this.wanted = undefined;
      return this.maskPending();
    }
    if ((!this.otherFirst && echoedInPlace(this.want(), this.seen) === 'echoed') || echoedAfterPrompt(this.want(), this.seen) || echoedAtLineStart(this.want(), this.tailWithBreaks)) return this.release();
    this.maskPending();
  }

  private maskPending(): void {
    // Keep controls (Enter, backspace) so the timeline still sees where lines end. One callback
    // per run of characters, not per character: a 60 KiB paste is one run, and a callback per
    // character cost ~5 ms a frame, a fifth of the broker's time under an input flood.
    let count = 0;
    const masked = keysTyped(this.pending).replace(/[^\x00-\x1f\x7f]+/g, (run) => {
      const n = codePoints(run);
      count += n;
      return MASK.repeat(n);
    });
    this.reset();
    if (count > 0) this.sink.masked(count);
    this.sink.input(masked);
  }
}

/**
 * Does the output since the input (escape sequences removed) begin with `want`, the typed
 * printable characters? 'waiting' while it is a prefix of them; 'not echoed' as soon as it differs.
 */
function echoedInPlace(want: string, out: string): 'echoed' | 'waiting' | 'not echoed' {
  if (want.length === 0) return 'echoed';
  if (out.startsWith(want)) return 'echoed';
  return want.startsWith(out) ? 'waiting' : 'not echoed';
}

/**
 * Keys typed ahead of a prompt: somewhere in the output since them, a prompt ends and exactly the
 * keys follow (the program's answer to them may follow too, in the same piece of output).
 */
function echoedAfterPrompt(want: string, out: string): boolean {
  if (want.length === 0) return false;
  for (let i = out.indexOf(want, 1); i > 0; i = out.indexOf(want, i + 1)) {
    if (PROMPT_END.test(out.slice(Math.max(0, i - PROMPT_TAIL), i))) return true;
  }
  return false;
}

/** Keys typed ahead, echoed whole at the start of a line of the output since them. */
function echoedAtLineStart(want: string, out: string): boolean {
  return want.length > 0 && out.includes(`\n${want}`);
}

/** The keys typed, without controls: what an echo shows. */
function printableKeys(typed: string): string {
  return keysTyped(typed).replace(/[\x00-\x1f\x7f]/g, '');
}

const SURROGATE_PAIR = /[\uD800-\uDBFF][\uDC00-\uDFFF]/g;

/** Characters (code points) in a string: a pair of surrogates is one, as a terminal shows it. */
function codePoints(s: string): number {
  return s.length - (s.match(SURROGATE_PAIR)?.length ?? 0);
}
