// One console session: one byte pipeline (runtime output → recorder → client; client input →
// recorder → runtime), its limits (idle, max duration) and every way it can end. Front doors
// drive it through write/resize/close and receive through ConsoleClient; they decide nothing.
import { StringDecoder } from 'node:string_decoder';
import { EchoMask, type Recorder, type RecordingSeal } from '../recording/index.js';
import type { RunningConsole } from '../runtime/index.js';

/** What a front door gives the session to talk back to its user. */
export interface ConsoleClient {
  /** Sends terminal output; returns false when the client is not keeping up. */
  send(data: string): boolean;
  /** Registers a callback for when the client has caught up after send() returned false. */
  onDrain(cb: () => void): void;
  notice(message: string): void;
  end(info: { reason: string; exitCode: number | null }): void;
  /** Who is watching the session now (usernames); the user is always told. */
  watchers(names: readonly string[]): void;
}

/** A read-only watcher of a live session (an admin on the Live page). */
export interface ConsoleObserver {
  readonly name: string;
  /** Returns false when the watcher is too far behind; it is then dropped, never waited for. */
  send(data: string): boolean;
  resize(cols: number, rows: number): void;
  end(reason: string): void;
}

export interface EndInfo {
  reason: string;
  exitCode: number | null;
  bytesOut: number;
  bytesIn: number;
  recording: RecordingSeal | null;
}

/** Pause the container's output while this much recording is not yet stored. */
const RECORDER_BACKLOG_LIMIT = 1024 * 1024;
/** Recent output kept for a watcher who joins mid-session, so they see the screen, not a blank. */
const RECENT_OUTPUT_CHARS = 64 * 1024;

export class ConsoleSession {
  private bytesOut = 0;
  private bytesIn = 0;
  private ending: Promise<EndInfo> | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly maxTimer: NodeJS.Timeout;
  private readonly decoder = new StringDecoder('utf8');
  private exitCode: number | null = null;
  private readonly observers = new Set<ConsoleObserver>();
  private recent: string[] = [];
  private recentChars = 0;
  private size: { cols: number; rows: number };
  /** Input is recorded once we know whether the terminal echoed it (password prompts do not). */
  private readonly mask: EchoMask;
  private resizing: Promise<unknown> | undefined;
  private readonly heldInput: string[] = [];

  constructor(
    readonly id: string,
    private readonly running: RunningConsole,
    private readonly recorder: Recorder,
    private readonly client: ConsoleClient,
    private readonly limits: { idleSeconds: number; maxSeconds: number },
    private readonly onEnded: (info: EndInfo) => Promise<void>,
    initialSize: { cols: number; rows: number },
  ) {
    this.size = { ...initialSize };
    this.mask = new EchoMask({ input: (d) => recorder.input(d), masked: (n) => recorder.masked(n) });
    running.output.on('data', (chunk: Buffer) => this.onOutput(chunk));
    client.onDrain(() => this.maybeResume());
    void running.exited.then(({ exitCode }) => {
      this.exitCode = exitCode;
      // Let the last output drain through the pipeline before ending.
      running.output.once('end', () => void this.end('process exited'));
      setTimeout(() => void this.end('process exited'), 500).unref();
    });
    this.maxTimer = setTimeout(() => void this.end('maximum duration reached'), limits.maxSeconds * 1000);
    this.touch();
  }

  get live(): boolean {
    return this.ending === undefined;
  }

  write(data: string): void {
    if (!this.live) return;
    this.bytesIn += Buffer.byteLength(data);
    this.mask.input(data);
    // Keys typed after a resize must reach the program after it: hold them while one is applied.
    if (this.resizing) this.heldInput.push(data);
    else this.running.input.write(data);
    this.touch();
  }

  resize(cols: number, rows: number): void {
    if (!this.live) return;
    this.size = { cols, rows };
    for (const o of this.observers) o.resize(cols, rows);
    this.recorder.resize(cols, rows);
    const applied = this.running.resize(cols, rows).catch(() => undefined);
    this.resizing = applied;
    void applied.then(() => {
      if (this.resizing !== applied) return; // a later resize releases the held keys
      this.resizing = undefined;
      for (const d of this.heldInput.splice(0)) if (this.live) this.running.input.write(d);
    });
    this.touch();
  }

  /**
   * Adds a read-only watcher; returns the recent output and terminal size to start from, and
   * a function that removes the watcher. The user is told who is watching.
   */
  watch(observer: ConsoleObserver): { recent: string; cols: number; rows: number; stop: () => void } {
    this.observers.add(observer);
    this.announceWatchers();
    return {
      recent: this.recent.join(''),
      ...this.size,
      stop: () => {
        if (this.observers.delete(observer) && this.live) this.announceWatchers();
      },
    };
  }

  get watcherNames(): string[] {
    return [...this.observers].map((o) => o.name);
  }

  private announceWatchers(): void {
    this.client.watchers(this.watcherNames);
  }

  /** Ends the session (idempotent): container removed, recording sealed, client told why. */
  end(reason: string): Promise<EndInfo> {
    this.ending ??= (async () => {
      clearTimeout(this.idleTimer);
      clearTimeout(this.maxTimer);
      this.running.output.removeAllListeners('data');
      const rest = this.decoder.end();
      if (rest) this.recorder.output(rest);
      this.mask.flush();
      await this.running.destroy().catch(() => {});
      let recording: EndInfo['recording'] = null;
      try {
        recording = await this.recorder.seal();
      } catch {
        recording = null;
      }
      const info: EndInfo = { reason, exitCode: this.exitCode, bytesOut: this.bytesOut, bytesIn: this.bytesIn, recording };
      try {
        await this.onEnded(info);
      } finally {
        this.client.end({ reason, exitCode: this.exitCode });
        for (const o of this.observers) o.end(reason);
        this.observers.clear();
      }
      return info;
    })();
    return this.ending;
  }

  private onOutput(chunk: Buffer): void {
    this.bytesOut += chunk.length;
    const text = this.decoder.write(chunk);
    if (!text) return;
    // The recorder sees exactly the text the client sees.
    this.recorder.output(text);
    this.mask.output(text);
    this.remember(text);
    for (const o of this.observers) {
      if (!o.send(text)) {
        this.observers.delete(o);
        o.end('watcher too slow');
        this.announceWatchers();
      }
    }
    const keepingUp = this.client.send(text);
    if (!keepingUp) this.running.output.pause();
    if (this.recorder.backlog > RECORDER_BACKLOG_LIMIT) {
      this.running.output.pause();
      // The recorder has no drain event; look again shortly.
      setTimeout(() => this.maybeResume(), 50).unref();
    }
  }

  private remember(text: string): void {
    this.recent.push(text);
    this.recentChars += text.length;
    while (this.recentChars > RECENT_OUTPUT_CHARS && this.recent.length > 1) this.recentChars -= this.recent.shift()!.length;
  }

  private maybeResume(): void {
    if (this.live && this.running.output.isPaused() && this.recorder.backlog <= RECORDER_BACKLOG_LIMIT) this.running.output.resume();
  }

  private touch(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => void this.end('idle timeout'), this.limits.idleSeconds * 1000);
  }
}
