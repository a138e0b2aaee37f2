// The session recorder: encodes events as asciicast v2 and streams them to storage in chunks
// at most ~1 s apart (or sooner when 256 KiB accumulate), so a crash loses at most about a
// second and nothing is ever held whole in memory. It sees input and output, so it owns the echo
// mask (input typed without echo is stored masked). A running SHA-256 over every byte written
// becomes the recording's seal. Storage failure is reported once through onFailure: the
// session must then end (fail closed) rather than continue unrecorded.
import { createHash } from 'node:crypto';
import { eventLine, headerLine, type AsciicastHeader } from './asciicast.js';
import { chunkHash, RECORDING_GENESIS } from './chain.js';
import { EchoMask } from './echo-mask.js';
import { Transcript, type CommandLine } from './transcript.js';

export interface RecordingStore {
  create(sessionId: string, header: AsciicastHeader): Promise<void>;
  /** One chunk, with its time span, whether it holds output (for the search index) and its command lines. */
  append(sessionId: string, seq: number, data: Buffer, chainHash: string, meta: ChunkMeta): Promise<void>;
  seal(sessionId: string, seal: RecordingSeal): Promise<void>;
}

export interface ChunkMeta {
  /** Seconds from the start of the recording of the chunk's first and last event. */
  tStart: number;
  tEnd: number;
  /** The chunk holds output events: the search indexer works out their screen text later. */
  hasOutput: boolean;
  commands: CommandLine[];
  /** The last characters of the output before this chunk: a word split at the boundary is indexed whole. */
  carry?: string;
}

/** Output kept from one chunk for the next: longer than any word worth finding across the boundary. */
const CARRY_CHARS = 64;

/** What a sealed recording is: its file hash, chunk-chain hash, size and duration. */
export interface RecordingSeal {
  sha256: string;
  chainHash: string;
  size: number;
  durationSeconds: number;
}

export interface RecorderOptions {
  flushIntervalMs?: number;
  flushBytes?: number;
  /** Record what the user types ('i' events). */
  recordInput: boolean;
  onFailure(err: unknown): void;
  /**
   * Riding out a storage outage (a database failover): a chunk storage cannot take because
   * `isOutage(err)` is retried, in order, while later ones wait behind it, for up to `seconds`
   * from the first failure; the bytes held meanwhile count toward `budget` (shared by every
   * recorder of the broker). Past either bound the recording fails (onFailure). Without this
   * option the first failure fails it.
   */
  outage?: OutagePolicy;
}

export interface OutagePolicy {
  seconds: number;
  isOutage(err: unknown): boolean;
  /** Bytes held by all recorders during outages, and the most they may hold. */
  budget: { held: number; readonly limit: number };
  /** Storage failed: the recording is held from now on. */
  began(): void;
  /** Storage took everything held: how long it was away, and what was held meanwhile. */
  ended(stretch: BufferedStretch): void;
}

export interface BufferedStretch {
  seconds: number;
  bytes: number;
  chunks: number;
}

/** Retries of a chunk during an outage: soon at first, then once a second. */
const RETRY_MS = [100, 200, 400, 800, 1000];

/** Where a recording stands, for another broker to continue it (a handover). */
export interface RecordingPosition {
  /** The next chunk's number. */
  seq: number;
  chainHash: string;
  bytes: number;
  /** The time of its last event, in seconds from its start. */
  tEnd: number;
}

export class Recorder {
  private started = performance.now();
  private lastT = 0;
  private readonly hash = createHash('sha256');
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Flushed chunks whose write has not finished yet: memory held just the same. */
  private storingBytes = 0;
  /** Called when a write finishes (the session resumes output paused for the backlog). */
  private readonly drainWaiters: Array<() => void> = [];
  private seq = 0;
  private size = 0;
  private writing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private failed = false;
  private sealed: Promise<RecordingSeal> | undefined;
  private chain = RECORDING_GENESIS;
  private readonly transcript = new Transcript();
  private pendingSpan: { start: number; end: number } | undefined;
  private pendingOutput = false;
  /** The last output characters pushed so far, and as they were at the last flush. */
  private tail = '';
  private carried = '';
  private flushMs: number;
  private readonly flushBytes: number;
  /** Set while storage is away: since when, and what was held meanwhile. */
  private outage: { since: number; bytes: number; chunks: number } | undefined;
  /** Input waits here until its echo shows (or not): password prompts are stored masked. */
  private readonly mask = new EchoMask({
    input: (d) => this.push('i', d),
    masked: (n) => {
      this.maskedChars += n;
      this.push('m', `input not echoed: ${n} character${n === 1 ? '' : 's'} masked`);
    },
    pasted: (lines) => this.push('m', `input pasted: ${lines} lines, each echoed with the program's output between them`),
  });
  private maskedChars = 0;

  /** Characters typed that the terminal did not echo (stored masked): a password, or input hidden with stty -echo. */
  get maskedInput(): number {
    return this.maskedChars;
  }

  private constructor(
    private readonly store: RecordingStore,
    private readonly sessionId: string,
    private readonly options: RecorderOptions,
  ) {
    this.flushMs = options.flushIntervalMs ?? 1000;
    this.flushBytes = options.flushBytes ?? 256 * 1024;
  }

  /**
   * Creates the recording and writes its header before any byte reaches the user; `headerStore`
   * writes those two inside the caller's transaction (the one that creates the session row).
   */
  static async start(
    store: RecordingStore,
    sessionId: string,
    header: AsciicastHeader,
    options: RecorderOptions,
    headerStore: Pick<RecordingStore, 'create' | 'append'> = store,
  ): Promise<Recorder> {
    const r = new Recorder(store, sessionId, options);
    await headerStore.create(sessionId, header);
    const line = Buffer.from(headerLine(header));
    r.chain = chunkHash(r.chain, r.seq, line);
    await headerStore.append(sessionId, r.seq++, line, r.chain, { tStart: 0, tEnd: 0, hasOutput: false, commands: [] });
    r.hash.update(line);
    r.size += line.length;
    return r;
  }

  /**
   * Continues a recording another broker left at `at` (everything before it stored), `gapSeconds`
   * later: the next chunk follows in number and chain, event times go on from where they were
   * plus the gap, and the file hash is taken again over the stored chunks (`stored`, in order),
   * which must be exactly `at.bytes` long.
   */
  static async resume(
    store: RecordingStore,
    sessionId: string,
    at: RecordingPosition,
    gapSeconds: number,
    stored: AsyncIterable<Uint8Array>,
    options: RecorderOptions,
  ): Promise<Recorder> {
    const r = new Recorder(store, sessionId, options);
    for await (const chunk of stored) {
      r.hash.update(chunk);
      r.size += chunk.length;
    }
    if (r.size !== at.bytes) throw new Error(`the stored recording is ${r.size} bytes, not the ${at.bytes} it was left at`);
    r.seq = at.seq;
    r.chain = at.chainHash;
    r.started = performance.now() - (at.tEnd + Math.max(0, gapSeconds)) * 1000;
    r.lastT = at.tEnd;
    return r;
  }

  /** Where the recording stands once everything is stored (see `stored()`), for the next broker. */
  position(): RecordingPosition {
    return { seq: this.seq, chainHash: this.chain, bytes: this.size, tEnd: this.lastT };
  }

  /** Flush at least this often from now on (sooner while someone watches the console live). */
  flushEvery(ms: number): void {
    this.flushMs = ms;
  }

  /** Bytes accepted but not yet in storage; the session pauses output while this is large. */
  get backlog(): number {
    return this.pendingBytes + this.storingBytes;
  }

  /** Calls `cb` after every finished write, so a paused session can look at the backlog again. */
  onDrain(cb: () => void): void {
    this.drainWaiters.push(cb);
  }

  output(data: string): void {
    this.push('o', data);
    this.mask.output(data);
  }

  /** What the user typed: recorded once the echo mask knows whether the terminal echoed it. */
  input(data: string): void {
    if (this.options.recordInput) this.mask.input(data);
  }

  resize(cols: number, rows: number): void {
    this.push('r', `${cols}x${rows}`);
  }

  /** A note in the recording the player shows where it happened (a reattach, a handover). */
  marker(text: string): void {
    this.push('m', text);
  }

  /**
   * Stores what is pending now and resolves once every write so far has finished: what the
   * console printed up to this call is then in the database (a reattaching page reads it back).
   * Rejects if the recording failed.
   */
  async stored(): Promise<void> {
    this.flush();
    await this.writing;
    if (this.failed) throw new Error('the recording failed');
  }

  /** Flushes what is pending and records the final hash; idempotent. */
  seal(): Promise<RecordingSeal> {
    this.sealed ??= (async () => {
      this.mask.flush();
      clearTimeout(this.timer);
      this.flush();
      await this.writing;
      if (this.failed) throw new Error('recording failed before it could be sealed');
      const seal: RecordingSeal = {
        sha256: this.hash.digest('hex'),
        chainHash: this.chain,
        size: this.size,
        durationSeconds: Math.round((performance.now() - this.started) / 1000 * 1e6) / 1e6,
      };
      await this.store.seal(this.sessionId, seal);
      return seal;
    })();
    return this.sealed;
  }

  private push(code: 'o' | 'i' | 'r' | 'm', data: string): void {
    if (this.sealed || this.failed) return;
    // Rounded as eventLine writes it, so chunk spans and search times match the file exactly.
    const t = Math.max(this.lastT, Math.round(((performance.now() - this.started) / 1000) * 1e6) / 1e6);
    this.lastT = t;
    if (code === 'o') {
      this.pendingOutput = true;
      this.tail = data.length >= CARRY_CHARS ? data.slice(-CARRY_CHARS) : (this.tail + data).slice(-CARRY_CHARS);
    }
    else if (code === 'i') this.transcript.input(t, data);
    // Encoded once, here; flush only concatenates.
    const line = Buffer.from(eventLine(t, code, data));
    if (this.pendingSpan) this.pendingSpan.end = t;
    else this.pendingSpan = { start: t, end: t };
    this.pending.push(line);
    this.pendingBytes += line.length;
    // While a write is in flight, let the next chunk grow (up to 4× flushBytes): when storage is
    // slower than the output, chunks get bigger instead of queueing up one round trip each.
    if (this.pendingBytes >= this.flushBytes && (this.storingBytes === 0 || this.pendingBytes >= 4 * this.flushBytes)) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.flushMs);
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0 || this.failed) return;
    const data = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    const seq = this.seq++;
    this.hash.update(data);
    this.chain = chunkHash(this.chain, seq, data);
    const chain = this.chain;
    const span = this.pendingSpan!;
    this.pendingSpan = undefined;
    const meta: ChunkMeta = { tStart: span.start, tEnd: span.end, hasOutput: this.pendingOutput, ...this.transcript.take(), ...(this.pendingOutput && this.carried ? { carry: this.carried } : {}) };
    this.carried = this.tail;
    this.pendingOutput = false;
    this.size += data.length;
    this.storingBytes += data.length;
    const policy = this.options.outage;
    // Held while storage is away: counted against the broker's whole buffer.
    const held = { bytes: this.outage !== undefined && policy !== undefined ? data.length : 0 };
    if (held.bytes && policy) {
      policy.budget.held += data.length;
      this.outage!.bytes += data.length;
      this.outage!.chunks++;
      if (policy.budget.held > policy.budget.limit) this.fail(new Error(`the broker's recording buffer is full (${Math.round(policy.budget.limit / 1024 / 1024)} MiB held while the database is unavailable)`));
    }
    this.writing = this.writing.then(async () => {
      try {
        if (this.failed) return;
        await this.store_(seq, data, chain, meta, held);
      } catch (err) {
        this.fail(err);
      } finally {
        if (policy) policy.budget.held -= held.bytes;
        this.storingBytes -= data.length;
        if (this.storingBytes === 0 && this.outage && !this.failed) {
          // Everything held is stored: the stretch is over, and the recording says so.
          const stretch = { seconds: Math.round((performance.now() - this.outage.since) / 100) / 10, bytes: this.outage.bytes, chunks: this.outage.chunks };
          this.outage = undefined;
          this.push('m', `recording held on the broker for ${stretch.seconds} s while the database was unavailable (${stretch.bytes} bytes)`);
          policy?.ended(stretch);
        }
        if (this.storingBytes === 0 && this.pendingBytes >= this.flushBytes) this.flush();
        for (const cb of this.drainWaiters) cb();
      }
    });
  }

  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.options.onFailure(err);
  }

  /** Stores one chunk; through an outage (the policy's), tries again until it is stored or too long has passed. */
  private async store_(seq: number, data: Buffer, chain: string, meta: ChunkMeta, held: { bytes: number }): Promise<void> {
    const policy = this.options.outage;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.store.append(this.sessionId, seq, data, chain, meta);
        return;
      } catch (err) {
        if (!policy || !policy.isOutage(err) || this.failed) throw err;
        if (!this.outage) {
          this.outage = { since: performance.now(), bytes: data.length, chunks: 1 };
          policy.began();
        }
        if (!held.bytes) {
          held.bytes = data.length;
          policy.budget.held += data.length;
        }
        if (performance.now() - this.outage.since > policy.seconds * 1000) throw new Error(`the database was unavailable for more than ${policy.seconds} s`);
        await new Promise((r) => setTimeout(r, RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]));
      }
    }
  }
}
