// Reading and validating a catalogue file into an immutable Catalog, with every problem named
// by target and field. Used at start, on SIGHUP and by `sallyport catalog check`.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { LineCounter, parse as parseYaml, parseDocument, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { SallyportError, type FieldProblem } from '../errors.js';
import { deepFreeze } from '../freeze.js';
import { catalogSchema, isPinnedByDigest, nodeSchema, TARGET_SCHEMAS, targetSchema, type FleetNode, type Target } from './schema.js';

export interface Catalog {
  readonly path: string;
  readonly sha256: string;
  readonly targets: readonly Target[];
  /** Fleet nodes, each pinned by its host key. */
  readonly nodes: readonly FleetNode[];
  readonly loadedAt: Date;
}

export interface LoadOptions {
  /** Production: images must be pinned by digest. */
  requireDigest: boolean;
  /**
   * The broker's environment: `fromEnv` references are resolved from it at load (a reference
   * that does not resolve is a problem). Omit to only check the file (`catalog check`): the
   * references are then left out of the targets' environment.
   */
  env?: Readonly<Record<string, string | undefined>>;
}

/** The nodes a target's consoles may run on (none: the broker's own engine). */
export function targetNodes(catalog: Catalog, target: Target): readonly FleetNode[] {
  return catalog.nodes.filter((n) => target.placement.includes(n.name));
}

/** Reads and validates; throws CATALOG_INVALID (with `sha256` in the message) listing every problem. */
export function loadCatalogFile(path: string, options: LoadOptions): Catalog {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new SallyportError('CATALOG_INVALID', `cannot read catalogue ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`, {
      cause: err,
      problems: [{ field: 'file', message: 'cannot be read' }],
    });
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const result = parseCatalog(bytes.toString('utf8'), options);
  if (!result.ok) {
    throw Object.assign(
      new SallyportError('CATALOG_INVALID', `catalogue ${path} is invalid (${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}):`, {
        problems: result.problems,
      }),
      { sha256 },
    );
  }
  return Object.freeze({ path, sha256, targets: result.targets, nodes: result.nodes, loadedAt: new Date() });
}

export function parseCatalog(
  text: string,
  options: LoadOptions,
): { ok: true; targets: readonly Target[]; nodes: readonly FleetNode[] } | { ok: false; problems: FieldProblem[] } {
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: true, uniqueKeys: true, logLevel: 'error' });
  } catch (err) {
    const msg = err instanceof YAMLParseError ? err.message.split('\n')[0]! : String(err);
    return { ok: false, problems: [{ field: 'file', message: `is not valid YAML/JSON: ${msg}` }] };
  }
  const problems: FieldProblem[] = [];
  // Where each named entry sits in the file, so every problem can say its line.
  const entries = new Map<string, Array<string | number>>();
  const top = catalogSchema.safeParse(doc);
  if (!top.success) {
    problems.push(...toProblems(top.error, (path) => path || '(top level)'));
    return { ok: false, problems: withLines(text, problems, entries) };
  }

  const nodes: FleetNode[] = [];
  const seenNodes = new Map<string, number>();
  top.data.nodes.forEach((raw, i) => {
    const rawName = (raw as { name?: unknown } | null)?.name;
    const label = typeof rawName === 'string' && rawName ? `node "${rawName}"` : `nodes[${i}]`;
    entries.set(label, ['nodes', i]);
    // Known by name even when invalid: its own problems are named once, not again at each use.
    if (typeof rawName === 'string') {
      if (seenNodes.has(rawName)) problems.push({ field: `${label}.name`, message: `duplicates nodes[${seenNodes.get(rawName)}]` });
      else seenNodes.set(rawName, i);
    }
    const parsed = nodeSchema.safeParse(raw);
    if (!parsed.success) {
      problems.push(...toProblems(parsed.error, (path) => (path ? `${label}.${path}` : label)));
      return;
    }
    nodes.push(deepFreeze(parsed.data));
  });
  /** A pool as node names, sorted; problems name the target's field. */
  const resolvePool = (label: string, pool: string[] | { labels: Record<string, string> }): string[] => {
    if (Array.isArray(pool)) {
      pool.forEach((name, j) => {
        if (!seenNodes.has(name)) problems.push({ field: `${label}.nodes[${j}]`, message: `names node "${name}", which is not in the catalogue's nodes` });
      });
      return [...new Set(pool)].sort();
    }
    const matched = nodes.filter((n) => Object.entries(pool.labels).every(([k, v]) => n.labels[k] === v)).map((n) => n.name);
    if (matched.length === 0) problems.push({ field: `${label}.nodes.labels`, message: `matches no node (${Object.entries(pool.labels).map(([k, v]) => `${k}=${v}`).join(', ')})` });
    return matched.sort();
  };

  const targets: Target[] = [];
  const seen = new Map<string, number>();
  top.data.targets.forEach((raw, i) => {
    const rawName = (raw as { name?: unknown } | null)?.name;
    const label = typeof rawName === 'string' && rawName ? `target "${rawName}"` : `targets[${i}]`;
    entries.set(label, ['targets', i]);
    const runtime = (raw as { runtime?: unknown } | null)?.runtime;
    const known = typeof runtime === 'string' && Object.hasOwn(TARGET_SCHEMAS, runtime);
    if (!known) {
      // Name the runtime, and still every other problem (checked as the first runtime's fields).
      const names = Object.keys(TARGET_SCHEMAS).map((r) => `"${r}"`);
      problems.push({ field: `${label}.runtime`, message: names.length === 1 ? `must be ${names[0]} (the only runtime so far)` : `must be one of ${names.join(', ')}` });
      const { runtime: _unknown, ...others } = (raw ?? {}) as Record<string, unknown>;
      const rest = TARGET_SCHEMAS.docker.omit({ runtime: true }).safeParse(others);
      if (!rest.success) problems.push(...toProblems(rest.error, (path) => (path ? `${label}.${path}` : label)));
      return;
    }
    const parsed = targetSchema.safeParse(raw);
    if (!parsed.success) {
      problems.push(...toProblems(parsed.error, (path) => (path ? `${label}.${path}` : label)));
      return;
    }
    const t = parsed.data;
    if (seen.has(t.name)) problems.push({ field: `${label}.name`, message: `duplicates targets[${seen.get(t.name)}]` });
    seen.set(t.name, i);
    if (t.runtime === 'docker' && options.requireDigest && !isPinnedByDigest(t.image)) {
      problems.push({
        field: `${label}.image`,
        message: `"${t.image}" is a mutable tag; production requires an image pinned by digest (name@sha256:<64 hex> or an image ID sha256:<64 hex>)`,
      });
    }
    if (t.runtime === 'docker' && t.user !== undefined && /^(root|0)(:|$)/.test(t.user)) {
      problems.push({ field: `${label}.user`, message: 'must not be root; omit it to use the image default' });
    }
    if (t.runtime === 'ssh' && Object.keys(t.environment).length > 0) {
      // The node's sshd accepts no environment from the broker (PermitUserEnvironment no, no AcceptEnv).
      problems.push({ field: `${label}.environment`, message: 'is not supported on runtime ssh: set it on the node (or use runtime docker)' });
    }
    const placement = t.nodes === undefined ? [] : resolvePool(label, t.nodes);
    if (t.limits.idleTimeout > t.limits.maxDuration) {
      problems.push({ field: `${label}.limits.idleTimeout`, message: 'must not exceed limits.maxDuration' });
    }
    const a = t.approval;
    if (a.required && !a.approvers) {
      problems.push({ field: `${label}.approval.approvers`, message: 'is required when approval.required is true' });
    }
    if (!a.required) {
      for (const f of ['requesters', 'approvers', 'maxSessions', 'ticketPattern', 'autoApprove'] as const) {
        if (a[f] !== undefined) problems.push({ field: `${label}.approval.${f}`, message: 'has no effect unless approval.required is true' });
      }
    }
    if (a.ticketPattern !== undefined) {
      try {
        new RegExp(a.ticketPattern, 'u');
      } catch (err) {
        problems.push({ field: `${label}.approval.ticketPattern`, message: `is not a valid regular expression: ${(err as Error).message}` });
      }
    }
    if (a.maxDuration > 7 * 86400) {
      problems.push({ field: `${label}.approval.maxDuration`, message: 'must be at most 7d; just-in-time access is short-lived' });
    }
    const environment: Record<string, string> = {};
    for (const [key, value] of Object.entries(t.environment)) {
      if (typeof value === 'string') environment[key] = value;
      else if (options.env?.[value.fromEnv] !== undefined) environment[key] = options.env[value.fromEnv]!;
      else if (options.env) {
        problems.push({ field: `${label}.environment.${key}`, message: `refers to broker variable ${value.fromEnv}, which is not set` });
      }
    }
    const { nodes: _pool, ...rest } = t;
    targets.push(deepFreeze({ ...rest, image: t.runtime === 'docker' ? t.image : '', environment, placement }) as Target);
  });
  return problems.length > 0 ? { ok: false, problems: withLines(text, problems, entries) } : { ok: true, targets: Object.freeze(targets), nodes: Object.freeze(nodes) };
}

/**
 * Adds the file's line to each problem: the field's own line where the file has it, else the
 * nearest enclosing one (a missing field: its entry's line). `entries` maps a problem's leading
 * label (`target "billing"`) to its place in the document.
 */
function withLines(text: string, problems: FieldProblem[], entries: ReadonlyMap<string, Array<string | number>>): FieldProblem[] {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true });
  return problems.map((p) => {
    let path: Array<string | number> = [];
    let rest = p.field;
    for (const [label, at] of entries) {
      if (rest === label || rest.startsWith(`${label}.`) || rest.startsWith(`${label}[`)) {
        path = [...at];
        rest = rest.slice(label.length);
        break;
      }
    }
    for (const m of rest.matchAll(/\.?([^.[\]]+)|\[(\d+)\]/g)) path.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
    // One unknown field: its own line, not its entry's.
    const unknown = /^unknown field "([^"]+)"$/.exec(p.message);
    if (unknown) path.push(unknown[1]!);
    for (; path.length > 0; path.pop()) {
      const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
      // A scalar value's line, or a key whose value is a map: the line where it starts.
      if (node?.range) return { ...p, line: lines.linePos(node.range[0]).line };
    }
    return p;
  });
}

function toProblems(error: z.ZodError, name: (path: string) => string): FieldProblem[] {
  return error.issues.map((issue) => {
    const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') {
      message = `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    } else if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) {
      message = 'is required';
    }
    return { field: name(path), message };
  });
}
