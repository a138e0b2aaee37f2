// One console session: one byte pipeline (runtime output → recorder → client; client input →
// recorder → runtime), its limits (idle, max duration) and every way it can end. Front doors
// drive it through write/resize/close and receive through ConsoleClient; they decide nothing.
import { StringDecoder } from 'node:string_decoder';
import type { Recorder } from '../recording/index.js';
import type { RunningConsole } from '../runtime/index.js';

/** What a front door gives the session to talk back to its user. */
export interface ConsoleClient {
  /** Sends terminal output; returns false when the client is not keeping up. */
  send(data: string): boolean;
  /** Registers a callback for when the client has caught up after send() returned false. */
  onDrain(cb: () => void): void;
  notice(message: string): void;
  end(info: { reason: string; exitCode: number | null }): void;
}

export interface EndInfo {
  reason: string;
  exitCode: number | null;
  bytesOut: number;
  bytesIn: number;
  recording: { sha256: string; size: number } | null;
}

/** Pause the container's output while this much recording is not yet stored. */
const RECORDER_BACKLOG_LIMIT = 1024 * 1024;

export class ConsoleSession {
  private bytesOut = 0;
  private bytesIn = 0;
  private ending: Promise<EndInfo> | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly maxTimer: NodeJS.Timeout;
  private readonly decoder = new StringDecoder('utf8');
  private exitCode: number | null = null;

  constructor(
    readonly id: string,
    private readonly running: RunningConsole,
    private readonly recorder: Recorder,
    private readonly client: ConsoleClient,
    private readonly limits: { idleSeconds: number; maxSeconds: number },
    private readonly onEnded: (info: EndInfo) => Promise<void>,
  ) {
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
    this.recorder.input(data);
    this.running.input.write(data);
    this.touch();
  }

  resize(cols: number, rows: number): void {
    if (!this.live) return;
    this.recorder.resize(cols, rows);
    void this.running.resize(cols, rows);
    this.touch();
  }

  /** Ends the session (idempotent): container removed, recording sealed, client told why. */
  end(reason: string): Promise<EndInfo> {
    this.ending ??= (async () => {
      clearTimeout(this.idleTimer);
      clearTimeout(this.maxTimer);
      this.running.output.removeAllListeners('data');
      const rest = this.decoder.end();
      if (rest) this.recorder.output(rest);
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
    const keepingUp = this.client.send(text);
    if (!keepingUp) this.running.output.pause();
    if (this.recorder.backlog > RECORDER_BACKLOG_LIMIT) {
      this.running.output.pause();
      // The recorder has no drain event; look again shortly.
      setTimeout(() => this.maybeResume(), 50).unref();
    }
  }

  private maybeResume(): void {
    if (this.live && this.running.output.isPaused() && this.recorder.backlog <= RECORDER_BACKLOG_LIMIT) this.running.output.resume();
  }

  private touch(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => void this.end('idle timeout'), this.limits.idleSeconds * 1000);
  }
}
