// What an operator monitors, in the Prometheus text format: one registry per broker (a test
// process may run several brokers). Events are counted where they happen (opens, ends, chunk
// writes, audit appends, webhook failures); levels are read when scraped (live consoles, bytes,
// recording backlog, pool use, pending approvals), so the consoles' hot path does no metric work.
import client from 'prom-client';
import type { Database } from '../db/index.js';

/** What the console service knows at the moment of a scrape. */
export interface ConsoleLevels {
  /** Live consoles on this broker, by target. */
  liveByTarget: ReadonlyMap<string, number>;
  /** Bytes typed and shown through this broker's consoles since it started (ended and live). */
  bytesIn: number;
  bytesOut: number;
  /** Recording accepted but not yet stored, over this broker's live consoles. */
  recordingBacklog: number;
  /** Live consoles whose page is gone, waiting for it to reattach. */
  detached: number;
  /** Recording held on this broker while the database is unavailable. */
  heldBytes: number;
}

export interface Metrics {
  readonly registry: client.Registry;
  consoleOpened(target: string, door: string, seconds: number): void;
  consoleRefused(target: string, door: string, code: string): void;
  consoleEnded(target: string, reason: string): void;
  chunkWritten(seconds: number): void;
  auditAppended(seconds: number): void;
  webhookFailed(): void;
  /** Where scrape-time levels come from; set once the console service exists. */
  readConsoles(levels: () => ConsoleLevels): void;
  /** Counts a committed audit event (every action's series starts at zero). */
  auditEvent(action: string): void;
  /** The catalogue as loaded now: its targets (their series start at zero) and its hash. */
  readCatalog(read: () => { targets: readonly string[]; sha256: string }): void;
  /** Each fleet node's last lockdown check (true: sshd runs with the lockdown). */
  readLockdowns(read: () => ReadonlyMap<string, { ok: boolean; reachable?: boolean }>): void;
  /** Whether the checkpointer refuses to sign (tampering suspected), and this broker's clock against the database's. */
  readEvidence(read: () => { checkpointRefused: boolean; clockSkewSeconds: number | null }): void;
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const OPEN_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 30];

export function createMetrics(deps: { db: Database; auditActions?: readonly string[]; endCodes?: readonly string[] }): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  let consoles: (() => ConsoleLevels) | undefined;
  const levels = () => consoles?.() ?? { liveByTarget: new Map(), bytesIn: 0, bytesOut: 0, recordingBacklog: 0, detached: 0, heldBytes: 0 };

  let catalog: (() => { targets: readonly string[]; sha256: string }) | undefined;
  // Labelled series exist from the first scrape at zero, for every target, door, reason and
  // action: increase() over a restart then sees the first failure, not a series appearing.
  const opens = new client.Counter({
    name: 'sallyport_console_opens_total',
    help: 'Console open attempts on this broker, by target, door and result (opened or the error code).',
    labelNames: ['target', 'door', 'result'],
    registers: [registry],
    collect() {
      for (const target of catalog?.().targets ?? []) for (const door of ['web', 'ssh']) for (const result of ['opened', 'ACCESS_DENIED', 'APPROVAL_REQUIRED', 'LIMIT_REACHED', 'RUNTIME_UNAVAILABLE', 'RECORDING_FAILED']) this.inc({ target, door, result }, 0);
    },
  });
  const openSeconds = new client.Histogram({ name: 'sallyport_console_open_seconds', help: 'From an open request to a running, recorded console.', labelNames: ['door'], buckets: OPEN_BUCKETS, registers: [registry] });
  const ends = new client.Counter({
    name: 'sallyport_console_ends_total',
    help: 'Consoles ended on this broker, by target and end reason.',
    labelNames: ['target', 'reason'],
    registers: [registry],
    collect() {
      for (const target of catalog?.().targets ?? []) for (const reason of deps.endCodes ?? []) this.inc({ target, reason }, 0);
    },
  });
  const auditEvents = new client.Counter({
    name: 'sallyport_audit_events_total',
    help: 'Audit events this broker committed, by action (auth.login_failed, ssh.refused, node.refused, audit.checkpoint_refused, …).',
    labelNames: ['action'],
    registers: [registry],
  });
  for (const action of deps.auditActions ?? []) auditEvents.inc({ action }, 0);
  new client.Gauge({
    name: 'sallyport_catalog_info',
    help: 'The catalogue this broker has loaded (1, labelled with its SHA-256): brokers that disagree were reloaded differently.',
    labelNames: ['sha256'],
    registers: [registry],
    collect() {
      this.reset();
      const c = catalog?.();
      if (c) this.set({ sha256: c.sha256 }, 1);
    },
  });
  new client.Gauge({
    name: 'sallyport_audit_checkpoint_age_seconds',
    help: 'Seconds since the newest signed checkpoint (all brokers): grows past the interval only while events wait unsigned or nothing happens.',
    registers: [registry],
    async collect() {
      this.set(await countOrNaN(deps.db, `select coalesce(extract(epoch from now() - max(signed_at)), 0)::float8 as n from audit_checkpoints`));
    },
  });
  new client.Gauge({
    name: 'sallyport_brokers_lost',
    help: 'Brokers taken over after their heartbeat stopped, since the deployment began (all brokers): an increase is a crash or a partition.',
    registers: [registry],
    async collect() {
      this.set(await countOrNaN(deps.db, `select count(*)::int as n from brokers where stop_reason = 'lost'`));
    },
  });
  new client.Gauge({
    name: 'sallyport_search_index_backlog',
    help: 'Recording chunks stored but not yet in the search index (all brokers), and the oldest one’s age in seconds.',
    labelNames: ['measure'],
    registers: [registry],
    async collect() {
      this.set({ measure: 'chunks' }, await countOrNaN(deps.db, `select count(*)::int as n from recording_index_queue`));
      this.set(
        { measure: 'oldest_seconds' },
        await countOrNaN(deps.db, `select coalesce(extract(epoch from now() - min(s.started_at + make_interval(secs => coalesce(c.t_end, 0)))), 0)::float8 as n
             from recording_index_queue q join recording_chunks c using (session_id, seq) join console_sessions s on s.id = q.session_id`),
      );
    },
  });
  const chunkSeconds = new client.Histogram({ name: 'sallyport_recording_chunk_write_seconds', help: 'Storing one recording chunk (hash chain, index queue) in PostgreSQL.', buckets: LATENCY_BUCKETS, registers: [registry] });
  const auditSeconds = new client.Histogram({ name: 'sallyport_audit_append_seconds', help: 'Appending one audit event to the hash chain (inside its transaction).', buckets: LATENCY_BUCKETS, registers: [registry] });
  const webhookFailures = new client.Counter({ name: 'sallyport_webhook_failures_total', help: 'Webhook deliveries that failed (each is retried with backoff).', registers: [registry] });

  new client.Gauge({
    name: 'sallyport_consoles_live',
    help: 'Live consoles on this broker, by target.',
    labelNames: ['target'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [target, n] of levels().liveByTarget) this.set({ target }, n);
    },
  });
  new client.Counter({
    name: 'sallyport_console_input_bytes_total',
    help: 'Bytes typed into consoles through this broker.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(levels().bytesIn);
    },
  });
  new client.Counter({
    name: 'sallyport_console_output_bytes_total',
    help: 'Bytes of console output shown through this broker.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(levels().bytesOut);
    },
  });
  new client.Gauge({
    name: 'sallyport_recording_backlog_bytes',
    help: 'Recording accepted but not yet stored, over this broker’s live consoles.',
    registers: [registry],
    collect() {
      this.set(levels().recordingBacklog);
    },
  });
  new client.Gauge({
    name: 'sallyport_consoles_detached',
    help: 'Live consoles on this broker whose page is gone, waiting up to SALLYPORT_REATTACH_SECONDS for it to reattach.',
    registers: [registry],
    collect() {
      this.set(levels().detached);
    },
  });
  new client.Gauge({
    name: 'sallyport_recording_held_bytes',
    help: 'Recording held on this broker while the database is unavailable (bounded by SALLYPORT_RECORDING_BUFFER_MIB).',
    registers: [registry],
    collect() {
      this.set(levels().heldBytes);
    },
  });
  new client.Gauge({
    name: 'sallyport_db_pool_connections',
    help: 'This broker’s PostgreSQL pool: connections open, idle, and requests waiting for one.',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const { pool } = deps.db;
      this.set({ state: 'total' }, pool.totalCount);
      this.set({ state: 'idle' }, pool.idleCount);
      this.set({ state: 'waiting' }, pool.waitingCount);
    },
  });
  // Across every broker (one database): the same figure from each, so alert on max(), not sum().
  new client.Gauge({
    name: 'sallyport_access_requests_pending',
    help: 'Access requests waiting for a decision (all brokers).',
    registers: [registry],
    async collect() {
      this.set(await countOrNaN(deps.db, `select count(*)::int as n from access_requests where status = 'pending'`));
    },
  });
  new client.Gauge({
    name: 'sallyport_consoles_unreleased',
    help: 'Consoles that ended but whose container was not removed yet (all brokers): the reaper retries each pass; alert when it stays above 0.',
    registers: [registry],
    async collect() {
      this.set(await countOrNaN(deps.db, `select count(*)::int as n from console_sessions where ended_at is not null and released_at is null`));
    },
  });
  new client.Gauge({
    name: 'sallyport_webhook_undelivered',
    help: 'Webhook notifications not yet delivered (all brokers).',
    registers: [registry],
    async collect() {
      this.set(await countOrNaN(deps.db, `select count(*)::int as n from notifications where delivered_at is null`));
    },
  });

  let evidence: (() => { checkpointRefused: boolean; clockSkewSeconds: number | null }) | undefined;
  let lockdowns: (() => ReadonlyMap<string, { ok: boolean; reachable?: boolean }>) | undefined;
  new client.Gauge({
    name: 'sallyport_node_reachable',
    help: 'Whether this broker could log in to the fleet node at its last check (every 5 minutes and on the Fleet page): 1 yes, 0 no.',
    labelNames: ['node'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [node, v] of lockdowns?.() ?? new Map()) this.set({ node }, v.reachable === false ? 0 : 1);
    },
  });
  new client.Gauge({
    name: 'sallyport_node_lockdown',
    help: 'Whether the fleet node’s sshd runs with the lockdown node-config prints (sshd -T, checked every 5 minutes and on the Fleet page): 1 yes, 0 no — alert on 0.',
    labelNames: ['node'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [node, v] of lockdowns?.() ?? new Map()) this.set({ node }, v.ok ? 1 : 0);
    },
  });
  new client.Gauge({
    name: 'sallyport_audit_checkpoint_refused',
    help: 'This broker refuses to sign audit checkpoints because the checkpoint table or the chain disagrees with what it signed (1): tampering suspected, alert on it.',
    registers: [registry],
    collect() {
      this.set(evidence?.().checkpointRefused ? 1 : 0);
    },
  });
  new client.Gauge({
    name: 'sallyport_clock_skew_seconds',
    help: 'This broker’s clock minus the database’s, as last measured (event and checkpoint times come from the database).',
    registers: [registry],
    collect() {
      this.set(evidence?.().clockSkewSeconds ?? Number.NaN);
    },
  });

  return {
    registry,
    readEvidence(read) {
      evidence = read;
    },
    readLockdowns(read) {
      lockdowns = read;
    },
    auditEvent: (action) => auditEvents.inc({ action }),
    readCatalog(read) {
      catalog = read;
    },
    consoleOpened(target, door, seconds) {
      opens.inc({ target, door, result: 'opened' });
      openSeconds.observe({ door }, seconds);
    },
    consoleRefused(target, door, code) {
      opens.inc({ target, door, result: code });
    },
    consoleEnded(target, reason) {
      ends.inc({ target, reason });
    },
    chunkWritten: (seconds) => chunkSeconds.observe(seconds),
    auditAppended: (seconds) => auditSeconds.observe(seconds),
    webhookFailed: () => webhookFailures.inc(),
    readConsoles(read) {
      consoles = read;
    },
  };
}

/** A scrape while the database is away still answers: the database's figures are NaN. */
async function countOrNaN(db: Database, sql: string): Promise<number> {
  try {
    return (await db.query<{ n: number }>(sql)).rows[0]!.n;
  } catch {
    return Number.NaN;
  }
}
