// The Runtime interface: what the console lifecycle needs from whatever runs a console (a task
// container on the broker's engine or a fleet node's, a plain process on a fleet node).
// Consoles depend on this interface only; main.ts builds the registry.
import type { Readable, Writable } from 'node:stream';

/** A fleet node as a runtime reaches it: the catalogue's entry, pinned by its host key. */
export interface NodeAddress {
  /** The catalogue's node name, used in every message. */
  readonly name: string;
  readonly address: string;
  readonly port: number;
  /** The pinned host public key line. */
  readonly hostKey: string;
  readonly login: string;
}

/** What a container runtime needs beyond the command: the image and its lockdown. */
export interface ContainerSpec {
  image: string;
  user?: string;
  workdir?: string;
  /** Directories given as empty tmpfs mounts owned by the user (the root stays read-only). */
  writable?: readonly string[];
  limits: { memoryBytes: number; cpus: number; pids: number };
  network: string;
}

export interface ConsoleSpec {
  /** Names the container and its labels; ties it to the broker's session row. */
  sessionId: string;
  target: string;
  /** Who it is for: named, with the session, in a fleet certificate's key id. */
  username: string;
  command: readonly string[];
  env: Readonly<Record<string, string>>;
  size: { cols: number; rows: number };
  /** The fleet nodes it may run on (the runtime picks a healthy one); empty = the broker's own engine. */
  nodes: readonly NodeAddress[];
  /** For container runtimes; absent for a plain process. */
  container?: ContainerSpec;
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
  /** The certificate a fleet connection logged in with, for the audit log. */
  readonly credential?: { readonly serial: string; readonly keyId: string; readonly validBefore: string; readonly sourceAddress?: string };
  /** The TTY's output. Pausing it applies backpressure all the way to the container. */
  readonly output: Readable;
  readonly input: Writable;
  resize(cols: number, rows: number): Promise<void>;
  /** Resolves when the process exits, with its status; or when the node it runs on is lost. */
  readonly exited: Promise<{ exitCode: number; lostNode?: string }>;
  /** Stops (if running) and removes the container; safe to call more than once. */
  destroy(): Promise<void>;
  /**
   * Drops this broker's connection to the console without ending it, for another broker that
   * attached meanwhile to carry on (a drain). Absent where a console cannot outlive its
   * connection (a plain process on a node dies with its SSH connection).
   */
  leave?(): void;
  /** Freezes the process (it prints nothing until thawed) and thaws it: the handover's sync point. */
  freeze?(): Promise<void>;
  thaw?(): Promise<void>;
}

/** A console the runtime holds, with the broker and session it was started for (its labels). */
export interface HeldConsole {
  readonly handle: ConsoleHandle;
  readonly brokerId: string;
  readonly sessionId: string;
  /** The deployment that started it (its label), or null for one started before 0.2.0. */
  readonly deployment: string | null;
}

export interface Runtime {
  readonly name: string;
  /** Consoles are labelled with the broker instance that starts them. */
  start(spec: ConsoleSpec, brokerId: string): Promise<RunningConsole>;
  /**
   * Every console this runtime holds for any Sallyport broker (reaping decides whose are dead).
   * Remote nodes may be listed less often; `everywhere` asks for all of them now (a broker was
   * just found dead, so its consoles on fleet nodes are orphans).
   */
  list(o?: { everywhere?: boolean }): Promise<HeldConsole[]>;
  /** Stops and removes one console; a console already gone is not an error. */
  remove(handle: ConsoleHandle): Promise<void>;
  /**
   * Attaches to a console another broker holds, for this one to carry on (a handover): its output
   * reaches both until the other leaves. Absent where consoles cannot be handed over.
   */
  attach?(handle: ConsoleHandle, size: { cols: number; rows: number }): Promise<RunningConsole>;
}
