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

export interface RunningConsole {
  readonly containerId: string;
  /** Content address of the image actually started (sha256:…), for the audit log. */
  readonly imageId: string;
  /** The TTY's output. Pausing it applies backpressure all the way to the container. */
  readonly output: Readable;
  readonly input: Writable;
  resize(cols: number, rows: number): Promise<void>;
  /** Resolves when the process exits, with its status. */
  readonly exited: Promise<{ exitCode: number }>;
  /** Stops (if running) and removes the container; safe to call more than once. */
  destroy(): Promise<void>;
}

export interface Runtime {
  readonly name: string;
  start(spec: ConsoleSpec): Promise<RunningConsole>;
  /** Removes this broker's containers whose session is not in `live`; returns their session ids. */
  reapOrphans(live: ReadonlySet<string>): Promise<string[]>;
}
