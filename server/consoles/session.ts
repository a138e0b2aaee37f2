// One console session: one byte pipeline (runtime output → recorder → client; client input →
// recorder → runtime), its limits (idle, max duration) and every way it can end. Front doors
// drive it through write/resize/close and receive through ConsoleClient; they decide nothing.
import { StringDecoder } from 'node:string_decoder';
import type { Recorder, RecordingPosition, RecordingSeal } from '../recording/index.js';
import type { RunningConsole } from '../runtime/index.js';
import { endExitStatus, endMessage, type EndCode, type EndReason } from './end-reasons.js';

/** What a front door gives the session to talk back to its user. */
export interface ConsoleClient {
  /**
   * Sends terminal output as the process wrote it (UTF-8, possibly split mid-character: terminals
   * decode across writes); returns false when the client is not keeping up.
   */
  send(bytes: Buffer): boolean;
  /** Registers a callback for when the client has caught up after send() returned false. */
  onDrain(cb: () => void): void;
  notice(message: string): void;
  /** The console's end moved (an extension approved): a door with a countdown shows the new one. */
  limits?(l: { endsAt: Date; because: 'access' | 'console'; idleSeconds: number }): void;
  /**
   * The session ended: why (the sentence and its code), the process's own exit code (null when
   * it did not exit) and the status a door without one reports (SSH: the reason's status).
   */
  end(info: { reason: string; code: EndCode; exitCode: number | null; exitStatus: number }): void;
  /** Who is watching the session now (usernames); the user is always told. */
  watchers(names: readonly string[]): void;
  /** The console went on with another client of the same login (a takeover): this one is done, the console is not. */
  moved?(message: string): void;
  /** This client carries on with a running console: its recent output (the screen) follows. */
  reattached?(sessionId: string): void;
  /** This broker let go of the console for another to carry on (a drain): the client reconnects to carry on with it there. */
  handedOver?(message: string): void;
}

/** While no client carries the console: output is recorded and not sent, nothing waits for it. */
export const NO_CLIENT: ConsoleClient = {
  send: () => true,
  onDrain: () => undefined,
  notice: () => undefined,
  end: () => undefined,
  watchers: () => undefined,
};

/** What a reattaching client is shown first: the console's recent output and its size. */
export interface Screen {
  recent: string;
  cols: number;
  rows: number;
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
  reason: EndReason;
  exitCode: number | null;
  bytesOut: number;
  bytesIn: number;
  recording: RecordingSeal | null;
  /** Whether the container (or process) was removed; if not, the reaper removes it later. */
  released: boolean;
  /** Characters typed that the terminal did not echo (stored masked). */
  maskedInput: number;
}

/** Stop reading a client's input while this much of it waits for the process to read it. */
const INPUT_BACKLOG_LIMIT = 256 * 1024;
/**
 * A paste this many seconds' worth of the input rate goes through at once; beyond it, input is
 * read at the rate. A terminal echoes what it is sent and the recorder stores both, so unbounded
 * input is work the broker does for one user at everyone else's expense (the input flood).
 */
const INPUT_BURST_SECONDS = 4;
/** Sizes that follow each other are applied at most this often (the latest wins). */
const RESIZE_INTERVAL_MS = 100;
/** While watched, store output this often: watchers tail the stored recording. */
const WATCHED_FLUSH_MS = 200;
/** Output arriving this soon after the last message is gathered into the next one. */
const GATHER_MS = 2;
const GATHER_BYTES = 64 * 1024;
/** Only after a piece at least this big: an echo, a prompt or a short line is never held. */
const GATHER_AFTER = 512;
/**
 * Pause the container's output while this much recording is not yet stored: above the
 * recorder's largest chunk (4 × 256 KiB), so a chunk in flight alone never pauses output.
 */
const RECORDER_BACKLOG_LIMIT = 2 * 1024 * 1024;
/**
 * A handover's sync point: once the process is frozen, what it printed before is on its way to
 * both brokers' attaches within moments; this long without a byte means it has all arrived.
 */
export const QUIET_MS = 300;
const QUIET_MAX_MS = 5000;

export class ConsoleSession {
  private bytesOut = 0;
  private bytesIn = 0;
  private ending: Promise<EndInfo> | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private lastActivity = 0;
  private readonly maxTimer: NodeJS.Timeout;
  private readonly warnTimers: NodeJS.Timeout[] = [];
  private readonly startedAt: number;
  private readonly decoder = new StringDecoder('utf8');
  private exitCode: number | null = null;
  private watching: readonly string[] = [];
  private resizing: Promise<unknown> | undefined;
  private readonly heldInput: string[] = [];
  private heldBytes = 0;
  private inputCheck: NodeJS.Timeout | undefined;
  private inputTokens: number;
  private inputRefilledAt = performance.now();
  private nextSize: { cols: number; rows: number } | undefined;
  private readonly drainWaiters: Array<() => void> = [];
  private gathered: Buffer[] = [];
  private gatheredBytes = 0;
  private gatherTimer: NodeJS.Timeout | undefined;
  /** The client has more unsent than it allows; cleared by its drain. */
  private clientBehind = false;
  private client: ConsoleClient;
  /** Set while no client carries the console: it ends when this fires. */
  private detachTimer: NodeJS.Timeout | undefined;
  private detachedAt = 0;
  /** A client is being given the screen: output stays paused until it has it. */
  private attaching = false;
  private lastOutputAt = 0;

  constructor(
    readonly id: string,
    private readonly running: RunningConsole,
    private readonly recorder: Recorder,
    client: ConsoleClient,
    /** `grantEndsAt`: when the grant the console runs under ends (it ends the console then too). */
    /** `startedAt` (epoch ms): when the console began, for one carried on from another broker; default now. */
    private readonly limits: { idleSeconds: number; maxSeconds: number; inputBytesPerSecond: number; grantEndsAt?: Date; startedAt?: number },
    private readonly onEnded: (info: EndInfo) => Promise<void>,
    /** The recorder's usual flush interval, restored when nobody watches any more. */
    private readonly flushMs = 1000,
    /** Bytes through all of a broker's consoles (for /metrics); this session adds to it. */
    private readonly totals: { bytesIn: number; bytesOut: number } = { bytesIn: 0, bytesOut: 0 },
  ) {
    this.client = client;
    // Started without a client (carried on from another broker): one reattaches next.
    if (client === NO_CLIENT) this.detachedAt = Date.now();
    this.startedAt = limits.startedAt ?? Date.now();
    this.inputTokens = limits.inputBytesPerSecond * INPUT_BURST_SECONDS;
    running.output.on('data', (chunk: Buffer) => this.onOutput(chunk));
    running.input.on('drain', () => this.maybeReleaseInput());
    // The process's streams are sockets to an engine or a node. Keys written after the other end
    // closed (the container removed under the console, an engine restart) fail with EPIPE; an
    // 'error' nobody listens to would end the broker and every console on it. A broken stream
    // ends this console alone; if the process's exit is known first, that is the reason given.
    const broken = () => void this.end({ code: 'network_error' });
    running.input.on('error', broken);
    running.output.on('error', broken);
    this.listenForDrain(client);
    recorder.onDrain(() => this.maybeResume());
    void running.exited.then(({ exitCode, lostNode }) => {
      // The node's connection died (partition, node down): say so, not "process exited".
      if (lostNode !== undefined) return void this.end({ code: 'node_lost', node: lostNode });
      this.exitCode = exitCode;
      // Let the last output drain through the pipeline before ending.
      running.output.once('end', () => void this.end({ code: 'process_exited' }));
      setTimeout(() => void this.end({ code: 'process_exited' }), 500).unref();
    });
    this.maxTimer = setTimeout(() => void this.end({ code: 'max_duration' }), Math.max(0, this.startedAt + limits.maxSeconds * 1000 - Date.now()));
    this.touch();
    this.warnBeforeEnd();
  }

  private listenForDrain(client: ConsoleClient): void {
    client.onDrain(() => {
      // A client the console moved away from has nothing to say about its output any more.
      if (this.client !== client) return;
      this.clientBehind = false;
      this.maybeResume();
    });
  }

  /** Whether another broker could carry it on (its runtime can let go of it). */
  get canLeave(): boolean {
    return this.live && this.running.leave !== undefined;
  }

  /**
   * Its page went on elsewhere (another broker carries it next): the client here, if any, is
   * told it moved and hears nothing more; the console waits, recorded, as after a drop.
   */
  moveAway(message: string, graceSeconds: number): void {
    const client = this.client;
    if (client === NO_CLIENT) return;
    try {
      client.moved?.(message);
    } catch {
      // Gone already.
    }
    this.detach(client, graceSeconds);
  }

  /** A client carries the console now (false while it waits for one to reattach). */
  get attached(): boolean {
    return this.client !== NO_CLIENT;
  }

  /**
   * The client's connection dropped without ending the console (a reload, a blip): the console
   * goes on, recorded, with nobody to send to, and ends `client_gone` unless a client reattaches
   * within `graceSeconds`. A client the console already moved away from changes nothing.
   */
  detach(client: ConsoleClient, graceSeconds: number): void {
    if (!this.live || this.client !== client) return;
    this.client = NO_CLIENT;
    this.clientBehind = false;
    this.detachedAt = Date.now();
    this.flushGathered(false);
    this.recorder.marker(`client disconnected: the console waits up to ${graceSeconds} s for its page to reattach`);
    this.detachTimer = setTimeout(() => void this.end({ code: 'client_gone', seconds: graceSeconds }), graceSeconds * 1000);
    this.maybeResume();
  }

  /**
   * Carries on with `client`: the one before it (if any, a takeover) is told the console moved
   * and hears nothing more. Output is held while `screen` reads back what the console printed
   * so far (everything up to this call is stored first), the client is sent that, and output
   * then flows to it from exactly where the screen ended. Returns how long nobody carried it.
   */
  async reattach(client: ConsoleClient, screen: () => Promise<Screen>, o: { moved: string; graceSeconds: number }): Promise<{ detachedSeconds: number; moved: boolean; screen: Screen }> {
    if (!this.live) throw new Error('the console has ended');
    const before = this.client;
    this.client = NO_CLIENT;
    clearTimeout(this.detachTimer);
    this.detachTimer = undefined;
    this.attaching = true;
    this.running.output.pause();
    // What was gathered for the next message is recorded now, so the screen read back holds it.
    this.flushGathered(false);
    if (before !== NO_CLIENT) {
      try {
        before.moved?.(o.moved);
      } catch {
        // That client is gone already: nothing to tell it.
      }
    }
    try {
      await this.recorder.stored();
      const shown = await screen();
      if (!this.live) throw new Error('the console has ended');
      const detachedSeconds = before === NO_CLIENT ? Math.round((Date.now() - this.detachedAt) / 100) / 10 : 0;
      this.client = client;
      this.clientBehind = false;
      this.listenForDrain(client);
      client.reattached?.(this.id);
      if (shown.recent) this.clientBehind = !client.send(Buffer.from(shown.recent));
      client.watchers(this.watching);
      this.recorder.marker(before === NO_CLIENT ? `reattached after ${detachedSeconds} s` : 'moved to another window of the same login');
      return { detachedSeconds, moved: before !== NO_CLIENT, screen: shown };
    } catch (err) {
      // Nobody carries it now: it waits for the next reattach, as after a dropped connection.
      if (this.live && this.client === NO_CLIENT) {
        if (before !== NO_CLIENT) this.detachedAt = Date.now();
        this.detachTimer = setTimeout(() => void this.end({ code: 'client_gone', seconds: o.graceSeconds }), o.graceSeconds * 1000);
      }
      throw err;
    } finally {
      this.attaching = false;
      this.maybeResume();
    }
  }

  /**
   * An extension of the grant was approved: the console now runs under the new grant until
   * `endsAt` (the control pass found it moved). The warnings start over; the user is told.
   */
  grantExtended(grantId: string, endsAt: Date): void {
    if (!this.live) return;
    this.limits.grantEndsAt = endsAt;
    for (const t of this.warnTimers.splice(0)) clearTimeout(t);
    this.warnBeforeEnd();
    const deadline = this.deadline();
    this.notice(`Your access was extended (request ${grantId}): this console may run until ${deadline.endsAt.toISOString().replace('T', ' ').slice(0, 16)} UTC.`);
    this.client.limits?.({ ...deadline, idleSeconds: this.limits.idleSeconds });
  }

  /**
   * Never ended without warning: five minutes and one minute before the grant or the maximum
   * duration ends it, whichever is first, the user is told (the browser also shows a countdown).
   */
  private warnBeforeEnd(): void {
    const { endsAt, because } = this.deadline();
    for (const before of [300, 60]) {
      const at = endsAt.getTime() - before * 1000 - Date.now();
      if (at <= 0) continue;
      const t = setTimeout(() => this.notice(`Your ${because} ends in ${before / 60} minute${before === 60 ? '' : 's'}. Save your work${because === 'access' ? ', or ask for more time on the request page' : ''}.`), at);
      t.unref();
      this.warnTimers.push(t);
    }
  }

  /** When this console will end unless the user leaves it idle sooner, and why. */
  deadline(): { endsAt: Date; because: 'access' | 'console' } {
    const byMax = new Date(this.startedAt + this.limits.maxSeconds * 1000);
    const grant = this.limits.grantEndsAt;
    return grant && grant < byMax ? { endsAt: grant, because: 'access' } : { endsAt: byMax, because: 'console' };
  }

  /** The idle timeout, for a countdown that restarts with each key. */
  get idleSeconds(): number {
    return this.limits.idleSeconds;
  }

  get live(): boolean {
    return this.ending === undefined;
  }

  /** Recording accepted but not yet stored. */
  get recordingBacklog(): number {
    return this.recorder.backlog;
  }

  /**
   * Sends typed input to the process. Returns false when the process is not reading it fast
   * enough: the front door then stops reading from its client until `onInputDrain` — input is
   * never buffered in the broker without bound.
   */
  write(data: string): boolean {
    if (!this.live) return true;
    const bytes = Buffer.byteLength(data);
    this.bytesIn += bytes;
    this.totals.bytesIn += bytes;
    // Input past the rate is still taken (never dropped): the front door just stops reading.
    const withinRate = this.spendInput(bytes);
    // Output that came before this key is recorded (and shown) before it: the echo mask
    // decides by what the terminal printed after the key.
    this.flushGathered(true);
    // The key goes to the process before it is recorded: recording is the broker's work, not
    // the user's wait (the echo cannot come back before this synchronous block ends).
    // Keys typed after a resize must reach the program after it: hold them while one is applied.
    let taken: boolean;
    if (this.resizing) {
      this.heldInput.push(data);
      this.heldBytes += bytes;
      taken = this.heldBytes < INPUT_BACKLOG_LIMIT;
    } else taken = this.running.input.write(data) && this.running.input.writableLength < INPUT_BACKLOG_LIMIT;
    this.recorder.input(data);
    this.touch();
    // Recorded input counts too: what is not yet stored must not pile up either.
    return taken && withinRate && this.recorder.backlog <= RECORDER_BACKLOG_LIMIT;
  }

  /** Takes `bytes` from the input budget; false once it is spent (it refills at the input rate). */
  private spendInput(bytes: number): boolean {
    this.refillInput();
    this.inputTokens -= bytes;
    return this.inputTokens >= 0;
  }

  private refillInput(): void {
    const now = performance.now();
    const rate = this.limits.inputBytesPerSecond;
    this.inputTokens = Math.min(rate * INPUT_BURST_SECONDS, this.inputTokens + ((now - this.inputRefilledAt) / 1000) * rate);
    this.inputRefilledAt = now;
  }

  /** Called once the process has taken the input that made write() return false, and it is stored. */
  onInputDrain(cb: () => void): void {
    this.drainWaiters.push(cb);
    this.maybeReleaseInput();
  }

  private maybeReleaseInput(): void {
    if (this.drainWaiters.length === 0) return;
    if (this.resizing || this.running.input.writableNeedDrain) return; // the resize or 'drain' releases
    // The recorder has no drain event, nor has the input budget: look again when it may have.
    this.refillInput();
    const wait = this.recorder.backlog > RECORDER_BACKLOG_LIMIT ? 50 : this.inputTokens < 0 ? Math.ceil((-this.inputTokens / this.limits.inputBytesPerSecond) * 1000) : 0;
    if (wait > 0) {
      if (this.live) this.inputCheck ??= setTimeout(() => {
        this.inputCheck = undefined;
        this.maybeReleaseInput();
      }, wait).unref();
      return;
    }
    this.releaseDrainWaiters();
  }

  /**
   * Applies the terminal size. Resizes are coalesced: while one is being applied, only the latest
   * of those that follow is kept and applied next (a flood of resizes is one engine call at a time).
   */
  resize(cols: number, rows: number): void {
    if (!this.live) return;
    this.flushGathered(true);
    this.recorder.resize(cols, rows);
    this.touch();
    if (this.resizing) {
      this.nextSize = { cols, rows };
      return;
    }
    this.applySize(cols, rows);
  }

  private applySize(cols: number, rows: number): void {
    const startedAt = performance.now();
    this.resizing = this.running
      .resize(cols, rows)
      .catch(() => undefined)
      .then(async () => {
        // A window dragged makes tens of sizes a second and only the last matters: apply at most
        // one every RESIZE_INTERVAL_MS, so a flood of them is a few engine calls a second.
        const wait = RESIZE_INTERVAL_MS - (performance.now() - startedAt);
        if (this.nextSize && wait > 0) await new Promise((r) => setTimeout(r, wait));
        const next = this.nextSize;
        this.nextSize = undefined;
        if (next && this.live) return this.applySize(next.cols, next.rows);
        this.resizing = undefined;
        for (const d of this.heldInput.splice(0)) if (this.live) this.running.input.write(d);
        this.heldBytes = 0;
        this.maybeReleaseInput();
      })
      // Nobody awaits a resize: whatever goes wrong after it must not become an unhandled rejection.
      .catch(() => undefined);
  }

  private releaseDrainWaiters(): void {
    for (const cb of this.drainWaiters.splice(0)) cb();
  }

  /** Tells the user something about their console (a restart coming), if it is still live. */
  notice(message: string): void {
    if (!this.live) return;
    try {
      this.client.notice(message);
    } catch {
      // The client is gone; the console ends on its own path.
    }
  }

  /** Who watches now (from the watcher rows, on any broker); the user is told of every change. */
  setWatchers(names: readonly string[]): void {
    if (!this.live || names.join('\n') === this.watching.join('\n')) return;
    this.watching = [...names];
    this.recorder.flushEvery(names.length > 0 ? WATCHED_FLUSH_MS : this.flushMs);
    this.client.watchers(this.watching);
  }

  /**
   * Lets go of the console for another broker to carry on (a drain), once that broker is attached
   * too and has frozen the process: what is still on its way arrives first (quiet for
   * QUIET_MS), everything received is stored, and this broker's attach is dropped — nothing is
   * removed, sealed or ended. Resolves with where the recording stands. After this the session
   * is done here: end() does nothing. If it cannot be let go, it ends here the usual way.
   */
  async leave(): Promise<RecordingPosition> {
    if (!this.live || !this.running.leave) throw new Error('this console cannot be handed over');
    let left!: (info: EndInfo) => void;
    // Ended here, though not over: every later end() (an exit seen late, a timer) is a no-op.
    this.ending = new Promise((r) => (left = r));
    const info: EndInfo = { reason: { code: 'broker_shutdown' }, exitCode: null, bytesOut: this.bytesOut, bytesIn: this.bytesIn, recording: null, released: false, maskedInput: this.recorder.maskedInput };
    try {
      const until = performance.now() + QUIET_MAX_MS;
      while (performance.now() - this.lastOutputAt < QUIET_MS && performance.now() < until) await new Promise((r) => setTimeout(r, 50));
      this.stopPipeline();
      this.running.leave();
      await this.recorder.stored();
    } catch (err) {
      // Not left after all: it ends here the usual way (container removed, recording sealed).
      left(info);
      this.ending = undefined;
      void this.end({ code: 'broker_shutdown' });
      throw err;
    }
    left(info);
    return this.recorder.position();
  }

  /**
   * No more timers and no more output from the process; what was gathered for the next message
   * (and a character split at the end) still reaches the user and the recording.
   */
  private stopPipeline(): void {
    clearTimeout(this.idleTimer);
    clearTimeout(this.maxTimer);
    clearTimeout(this.detachTimer);
    for (const t of this.warnTimers) clearTimeout(t);
    this.running.output.removeAllListeners('data');
    this.flushGathered(false);
    const rest = this.decoder.end();
    if (rest) this.recorder.output(rest);
  }

  /** After leave(): tells the client where the console went (it reconnects to carry on). */
  sendAway(message: string): void {
    try {
      this.client.handedOver?.(message);
    } catch {
      // Gone already: it reconnects, or not.
    }
  }

  /** Ends the session (idempotent): container removed, recording sealed, client told why. */
  end(reason: EndReason): Promise<EndInfo> {
    this.ending ??= (async () => {
      this.stopPipeline();
      const released = await this.running.destroy().then(
        () => true,
        () => false,
      );
      let recording: EndInfo['recording'] = null;
      try {
        recording = await this.recorder.seal();
      } catch {
        recording = null;
      }
      const info: EndInfo = { reason, exitCode: this.exitCode, bytesOut: this.bytesOut, bytesIn: this.bytesIn, recording, released, maskedInput: this.recorder.maskedInput };
      // onEnded keeps trying to store the end itself; a failure here must not reject the many
      // fire-and-forget callers (timers, sockets) and take the process down with it.
      await this.onEnded(info).catch(() => undefined);
      try {
        this.client.end({ reason: endMessage(reason), code: reason.code, exitCode: this.exitCode, exitStatus: endExitStatus(reason, this.exitCode) });
      } catch {
        // The client is gone already; the end is stored either way.
      }
      return info;
    })();
    return this.ending;
  }

  private onOutput(chunk: Buffer): void {
    this.lastOutputAt = performance.now();
    this.bytesOut += chunk.length;
    this.totals.bytesOut += chunk.length;
    // A stream arrives in small pieces (a PTY read, an SSH packet: ~2 KiB each, thousands a
    // second): after a piece that size, what follows within GATHER_MS goes as one message. An
    // echo or a prompt is smaller and goes at once, so typing never waits.
    if (this.gatherTimer) {
      this.gathered.push(chunk);
      this.gatheredBytes += chunk.length;
      if (this.gatheredBytes >= GATHER_BYTES) this.flushGathered(true);
      return;
    }
    this.deliver(chunk);
    if (chunk.length >= GATHER_AFTER) this.gatherTimer = setTimeout(() => this.flushGathered(true), GATHER_MS);
  }

  /** Sends what was gathered; `keepGathering` keeps the gate closed while output keeps coming. */
  private flushGathered(keepGathering: boolean): void {
    clearTimeout(this.gatherTimer);
    this.gatherTimer = undefined;
    if (this.gathered.length === 0) return;
    const bytes = this.gathered.length === 1 ? this.gathered[0]! : Buffer.concat(this.gathered, this.gatheredBytes);
    this.gathered = [];
    this.gatheredBytes = 0;
    this.deliver(bytes);
    if (keepGathering && this.live) this.gatherTimer = setTimeout(() => this.flushGathered(true), GATHER_MS);
  }

  private deliver(bytes: Buffer): void {
    // The client gets the bytes first (an echo waits for nothing the broker does); the recorder
    // sees exactly the same, decoded once (a character split across pieces is recorded whole,
    // with the piece that completes it). The recording is stored later either way.
    const keepingUp = this.client.send(bytes);
    const text = this.decoder.write(bytes);
    if (text) this.recorder.output(text);
    if (!keepingUp) {
      this.clientBehind = true;
      this.running.output.pause();
    }
    // The recorder calls back after each write (onDrain above), and output resumes then.
    if (this.recorder.backlog > RECORDER_BACKLOG_LIMIT) this.running.output.pause();
  }

  /**
   * Output resumes only when both ends allow: the client has taken what was sent (its drain) and
   * the recording is stored. Either drain alone must not resume it — a recorder write finishing
   * while the client still lags let output pile up in the send buffer (34 MB in 4 s).
   */
  private maybeResume(): void {
    if (!this.live || !this.running.output.isPaused() || this.attaching) return;
    if (this.clientBehind || this.recorder.backlog > RECORDER_BACKLOG_LIMIT) return;
    this.running.output.resume();
  }

  /**
   * Marks activity. One idle timer per session, not one per key: when it fires it looks at the
   * last activity and sleeps again for what is left.
   */
  private touch(): void {
    this.lastActivity = performance.now();
    this.idleTimer ??= setTimeout(() => this.idleCheck(), this.limits.idleSeconds * 1000);
  }

  private idleCheck(): void {
    const left = this.lastActivity + this.limits.idleSeconds * 1000 - performance.now();
    if (left > 0) this.idleTimer = setTimeout(() => this.idleCheck(), left);
    else void this.end({ code: 'idle_timeout' });
  }
}
