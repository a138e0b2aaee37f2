// The Runtime interface: what the console lifecycle needs from whatever runs a task container
// (the local Docker engine now; a fleet node over SSH or Kubernetes later). Consoles depend on
// this interface only; main.ts picks the implementation.
import type { Readable, Writable } from 'node:stream';

export interface ConsoleSpec {
  /** Names the container and its labels; ties it to the broker's session row. */
  sessionId: string;
  target: string;
  image: string;
  command: readonly string[];
  env: Readonly<Record<string, string>>;
  user?: string;
  workdir?: string;
  limits: { memoryBytes: number; cpus: number; pids: number };
  network: string;
  size: { cols: number; rows: number };
}

/** Where a console runs, in words every runtime can fill: which runtime, which node, which thing. */
export interface ConsoleHandle {
  readonly runtime: string;
  /** The node (engine, host, cluster) it runs on; `local` for the broker's own engine. */
  readonly node: string;
  /** The runtime's own id for it (a container id, a pod name, a process id). */
  readonly id: string;
}

export interface RunningConsole {
  readonly handle: ConsoleHandle;
  /** Content address of the artifact actually started (an image's sha256:…), for the audit log. */
  readonly artifactDigest: string;
  /** The TTY's output. Pausing it applies backpressure all the way to the container. */
  readonly output: Readable;
  readonly input: Writable;
  resize(cols: number, rows: number): Promise<void>;
  /** Resolves when the process exits, with its status. */
  readonly exited: Promise<{ exitCode: number }>;
  /** Stops (if running) and removes the container; safe to call more than once. */
  destroy(): Promise<void>;
}

/** A console the runtime holds, with the broker and session it was started for (its labels). */
export interface HeldConsole {
  readonly handle: ConsoleHandle;
  readonly brokerId: string;
  readonly sessionId: string;
}

export interface Runtime {
  readonly name: string;
  /** Consoles are labelled with the broker instance that starts them. */
  start(spec: ConsoleSpec, brokerId: string): Promise<RunningConsole>;
  /** Every console this runtime holds for any Sallyport broker (reaping decides whose are dead). */
  list(): Promise<HeldConsole[]>;
  /** Stops and removes one console; a console already gone is not an error. */
  remove(handle: ConsoleHandle): Promise<void>;
}
