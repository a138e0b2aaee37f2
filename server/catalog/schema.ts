// The catalogue file's shape. Parsing is pure: no environment, no I/O; every problem is
// reported with the target's name and the field's path.
import { z } from 'zod';
import { parseDuration } from '../config/index.js';
import { parsePublicKeyLine } from '../signing/index.js';

/** name@sha256:<manifest digest>, or a bare image ID (sha256:<config digest>): both immutable. */
const DIGEST_RE = /^([^\s@]+@)?sha256:[a-f0-9]{64}$/;
const NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LOGIN_RE = /^[a-z_][a-z0-9_-]{0,31}$/;
const LABEL_RE = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/;

const duration = z
  .union([z.string(), z.number().int().positive()])
  .transform((v, ctx) => {
    const seconds = typeof v === 'number' ? v : parseDuration(v);
    if (seconds === undefined || seconds <= 0) {
      ctx.addIssue({ code: 'custom', message: `must be a duration like 90s, 30m or 12h, got "${v}"` });
      return z.NEVER;
    }
    return seconds;
  });

/**
 * How long a target's recordings are kept after the console ends: a duration of at least a day
 * (a recording is evidence: "90s" written for "90d" must not empty the store), or forever.
 */
export const retention = z.union([z.literal('forever'), z.string(), z.number().int().positive()]).transform((v, ctx) => {
  if (v === 'forever') return null;
  const seconds = typeof v === 'number' ? v : parseDuration(v);
  if (seconds === undefined || seconds < 86400) {
    ctx.addIssue({ code: 'custom', message: `must be at least a day, like 90d or 400d, or "forever"; got "${v}"` });
    return z.NEVER;
  }
  return seconds;
});

const memory = z.union([z.string(), z.number().int().positive()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const m = /^(\d+)\s*([kmg])?i?b?$/i.exec(v.trim());
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `must be a size like 256m or 1g, got "${v}"` });
    return z.NEVER;
  }
  const unit = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? '').toLowerCase() as 'k' | 'm' | 'g'] ?? 1;
  return Number(m[1]) * unit;
});

const envValue = z.union([
  z.string(),
  z.strictObject({ fromEnv: z.string().regex(ENV_NAME_RE, 'must be an environment variable name') }),
]);

const limits = z.strictObject({
  memory: memory.refine((b) => b >= 6 * 1024 ** 2, 'must be at least 6m (Docker minimum)'),
  cpus: z.number().positive().max(64),
  pids: z.number().int().min(8).max(32768),
  maxDuration: duration,
  idleTimeout: duration,
  /** Consoles of this target open at once, across every user and broker. */
  maxConsoles: z.number().int().min(1).max(100000).optional(),
});

/** A fleet node the broker may reach over SSH, pinned by its host key. */
export const nodeSchema = z.strictObject({
  name: z.string().regex(NAME_RE, 'must be lowercase letters, digits and dashes (1-63), starting with a letter or digit'),
  address: z.string().regex(/^[A-Za-z0-9.:-]{1,253}$/, 'must be an IP address or DNS name'),
  port: z.number().int().min(1).max(65535).default(22),
  hostKey: z.string().superRefine((v, ctx) => {
    try {
      parsePublicKeyLine(v);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `${(err as Error).message} (the node's /etc/ssh/ssh_host_ed25519_key.pub)` });
    }
  }),
  /** The one account the broker logs in as (the certificate's principal). */
  login: z.string().regex(LOGIN_RE, 'must be a user name (lowercase letters, digits, _ and -)').default('sallyport'),
  labels: z.record(z.string().regex(LABEL_RE, 'must be a label name'), z.string().max(63)).default({}),
  /** The node's main sshd_config, for the broker's lockdown check (`sshd -T -f`); its drop-ins are beside it. */
  sshdConfig: z.string().regex(/^\/[A-Za-z0-9._/-]{1,250}$/, 'must be an absolute path such as /etc/ssh/sshd_config').default('/etc/ssh/sshd_config'),
});

/** Where a target's consoles run: named nodes, or every node whose labels match. */
const placement = z.union(
  [
    z.array(z.string().regex(NAME_RE, 'must name a node')).min(1, 'must name at least one node'),
    z.strictObject({ labels: z.record(z.string().regex(LABEL_RE, 'must be a label name'), z.string()).refine((l) => Object.keys(l).length > 0, 'must hold at least one label') }),
  ],
  { error: 'must be a list of node names or { labels: { key: value } }' },
);

/** What every target has, whatever runs it. */
const commonFields = {
  name: z.string().regex(NAME_RE, 'must be lowercase letters, digits and dashes (1-63), starting with a letter or digit'),
  description: z.string().min(1).max(500),
  command: z.array(z.string().max(4096), { error: 'must be an argv array of strings, never a shell string' }).min(1).max(64),
  environment: z.record(z.string().regex(ENV_NAME_RE, 'must be an environment variable name'), envValue).default({}),
  allow: z.strictObject({ groups: z.array(z.string().min(1)).min(1, 'must name at least one group') }),
  recordInput: z.boolean().default(true),
  /** Seconds a recording is kept after its console ends (null: for ever); omitted = SALLYPORT_RECORDING_RETENTION. */
  retention: retention.optional(),
  approval: z
    .strictObject({
      required: z.boolean(),
      /** Groups that may ask for access; default: the target's allow.groups. */
      requesters: z.array(z.string().min(1)).min(1).optional(),
      /** Groups whose members may approve (never their own request). */
      approvers: z.array(z.string().min(1)).min(1).optional(),
      /** Distinct approvals needed; 2 or more is the two-person rule. */
      approvals: z.number().int().min(1).max(5).default(1),
      /** Longest grant that may be asked for. */
      maxDuration: duration.default(3600),
      /** Console sessions one grant may open; omitted = any number until it expires. */
      maxSessions: z.number().int().min(1).max(1000).optional(),
      /** The reason must match this (e.g. a ticket reference). */
      ticketPattern: z.string().min(1).max(200).optional(),
      /** Requests from these groups are approved at once (on-call); still audited. */
      autoApprove: z.array(z.string().min(1)).min(1).optional(),
    })
    .default({ required: false, approvals: 1, maxDuration: 3600 }),
};

/** Where the kernel's own views live: never shadowed by a console's writable directory. */
const SYSTEM_PATHS = ['/proc', '/sys', '/dev'];

/**
 * A directory the application writes to (Rails' tmp/ and log/, say), given to each console as
 * an empty tmpfs owned by its user: the root stays read-only and nothing outlives the console.
 */
const writablePath = z
  .string()
  .max(200)
  .regex(/^(\/[A-Za-z0-9._@+-]+)+$/, 'must be an absolute path of plain names, e.g. /app/tmp')
  .refine((p) => !p.split('/').some((part) => part === '.' || part === '..'), 'must not contain . or .. segments')
  .refine((p) => !SYSTEM_PATHS.some((s) => p === s || p.startsWith(`${s}/`)), 'must not be under /proc, /sys or /dev')
  .refine((p) => p !== '/tmp', 'is writable already (/tmp is always a tmpfs)');

/** A console in a container on a Docker engine: the broker's own, or a fleet node's over SSH. */
const dockerTarget = z.strictObject({
  ...commonFields,
  runtime: z.literal('docker'),
  /** Fleet nodes to run on; omitted = the broker's own engine. */
  nodes: placement.optional(),
  image: z.string().min(1).max(500),
  user: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?$/, 'must be "user" or "uid:gid"')
    .optional(),
  workdir: z.string().startsWith('/', 'must be an absolute path').optional(),
  /** Writable directories in the read-only container, each an empty tmpfs per console. */
  writable: z
    .array(writablePath)
    .max(8)
    .refine((ps) => new Set(ps).size === ps.length, 'must not name a directory twice')
    .optional(),
  limits,
  network: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must be "none", "bridge" or a network name')
    .default('none'),
});

/**
 * A plain process under a PTY on a fleet node, for fleets not yet containerised: exactly the
 * catalogue's argv, nothing from the user. Not disposable: it runs on the node itself.
 */
const sshTarget = z.strictObject({
  ...commonFields,
  runtime: z.literal('ssh'),
  nodes: placement,
  limits: limits.pick({ maxDuration: true, idleTimeout: true, maxConsoles: true }),
});

/** One schema per runtime, picked by the `runtime` field. */
export const targetSchema = z.discriminatedUnion('runtime', [dockerTarget, sshTarget], {
  error: (issue) => (issue.code === 'invalid_union' ? 'must be "docker" or "ssh"' : undefined),
});

/**
 * The schema for a target's `runtime`, or undefined for an unknown one; then the file is still
 * checked against the first runtime's schema, so every other problem is named too.
 */
export const TARGET_SCHEMAS = { docker: dockerTarget, ssh: sshTarget } as const;

export const catalogSchema = z.strictObject({
  version: z.literal(1, { error: 'must be 1' }),
  nodes: z.array(z.unknown()).default([]),
  targets: z.array(z.unknown()).min(1, 'must list at least one target'),
});

export type FleetNode = z.infer<typeof nodeSchema>;

/** A target as written in the file (`fromEnv` references unresolved). */
export type TargetFile = z.infer<typeof targetSchema>;

/**
 * A target as the broker uses it: `fromEnv` values resolved from its environment at load, its
 * node pool resolved to node names (`placement`: sorted, empty = the broker's own engine, and
 * part of what an approval binds), and `image` '' for runtimes without one.
 */
export type Target = TargetFile extends infer T
  ? T extends unknown
    ? Omit<T, 'environment' | 'nodes' | 'image'> & {
        readonly environment: Readonly<Record<string, string>>;
        readonly image: string;
        readonly placement: readonly string[];
      }
    : never
  : never;

export function isPinnedByDigest(image: string): boolean {
  return DIGEST_RE.test(image);
}
