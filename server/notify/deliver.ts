// Notifications about access requests, sent to one configured webhook. The access layer hands
// each notification over inside its transaction (outbox); a delivery loop posts it afterwards,
// retrying with exponential backoff, so a slow or failing receiver never blocks a request.
import type { AccessNotification, Notify } from '../access/index.js';
import {
  claimDueNotifications,
  enqueueNotification,
  markNotificationDelivered,
  markNotificationFailed,
  type Database,
  type Queryable,
} from '../db/index.js';

/** What a checkpoint copy carries: enough for `sallyport verify audit --checkpoints`. */
export interface SignedCheckpoint {
  n: string;
  seq: string;
  hash: string;
  kid: string;
  jws: string;
}

export interface WebhookConfig {
  url: string;
  format: 'json' | 'slack';
}

export interface NotifierLog {
  warn(obj: object, msg: string): void;
}

export interface Notifier {
  /** For the access layer: writes the notification into the outbox in the caller's transaction. */
  notify: Notify;
  /** A signed audit checkpoint, into the outbox in the transaction that stores it (a copy outside the database). */
  checkpoint(tx: Queryable, c: SignedCheckpoint): Promise<void>;
  /** Starts delivering; returns a stop function that waits for the attempt in flight. */
  start(log: NotifierLog): () => Promise<void>;
  /** One delivery pass now (what the loop does each tick); returns how many were attempted. */
  deliverDue(log: NotifierLog): Promise<number>;
}

/** Backoff after the n-th failed attempt: 1, 2, 4 … s, capped at 5 min; give up after 12 tries (~20 min). */
export function retryDelaySeconds(attempts: number): number | null {
  if (attempts >= 12) return null;
  return Math.min(2 ** (attempts - 1), 300);
}

const TIMEOUT_MS = 5000;

export function createWebhookNotifier(deps: { db: Database; webhook: WebhookConfig; publicUrl: string; pollMs?: number; onFailure?: () => void }): Notifier {
  const { db, webhook } = deps;
  let wake: (() => void) | undefined;

  const deliverDue = async (log: NotifierLog): Promise<number> => {
    const due = await claimDueNotifications(db, 20, 60);
    await Promise.all(
      due.map(async (n) => {
        try {
          const res = await fetch(webhook.url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'user-agent': 'Sallyport-Webhook/1' },
            body: JSON.stringify(n.body),
            signal: AbortSignal.timeout(TIMEOUT_MS),
            redirect: 'error',
          });
          // Read and drop the body so the connection can be reused.
          await res.arrayBuffer().catch(() => undefined);
          if (!res.ok) throw new Error(`receiver answered ${res.status}`);
          await markNotificationDelivered(db, n.id);
        } catch (err) {
          deps.onFailure?.();
          const retry = retryDelaySeconds(n.attempts);
          const reason = (err as Error).name === 'TimeoutError' ? `no answer within ${TIMEOUT_MS} ms` : (err as Error).message;
          await markNotificationFailed(db, n.id, reason, retry);
          // The webhook URL is a secret (Slack puts the token in it): log the event, never the URL.
          log.warn({ notification: n.id, event: n.event, attempts: n.attempts, retryInSeconds: retry }, `webhook delivery failed: ${reason}`);
        }
      }),
    );
    return due.length;
  };

  return {
    async notify(tx, n) {
      await enqueueNotification(tx, { event: n.event, subject: n.requestId, body: render(n, webhook.format, deps.publicUrl) });
      // Look soon after the commit rather than at the next tick.
      setTimeout(() => wake?.(), 50).unref();
    },

    async checkpoint(tx, c) {
      await enqueueNotification(tx, { event: 'audit.checkpoint', subject: `checkpoint:${c.n}`, body: renderCheckpoint(c, webhook.format) });
      setTimeout(() => wake?.(), 50).unref();
    },

    deliverDue,

    start(log) {
      let stopped = false;
      let pass: Promise<unknown> | undefined;
      wake = () => {
        if (pass || stopped) return;
        pass = deliverDue(log)
          .catch((err: unknown) => log.warn({}, `notification delivery paused: ${(err as Error).message}`))
          .finally(() => {
            pass = undefined;
          });
      };
      const timer = setInterval(() => wake?.(), deps.pollMs ?? 1000);
      timer.unref();
      return async () => {
        stopped = true;
        clearInterval(timer);
        await pass;
      };
    },
  };
}

const TITLES: Record<AccessNotification['event'], string> = {
  'access.requested': 'Access requested',
  'access.approved': 'Access approved',
  'access.denied': 'Access denied',
  'access.revoked': 'Access revoked',
};

/** The payload: Sallyport's JSON, or a Slack incoming-webhook message. */
export function render(n: AccessNotification, format: WebhookConfig['format'], publicUrl: string): Record<string, unknown> {
  const url = `${publicUrl}/access/${n.requestId}`;
  if (format === 'json') {
    return { event: n.event, requestId: n.requestId, target: n.target, requester: n.requester, actor: n.actor, text: n.text, expiresAt: n.expiresAt, url };
  }
  const who = n.event === 'access.requested' ? `${n.requester} asks for ${n.target}` : `${n.actor} → ${n.requester} on ${n.target}`;
  const lines = [`*${TITLES[n.event]}*: ${slack(who)}`];
  if (n.text) lines.push(`> ${slack(n.text).replace(/\n/g, '\n> ')}`);
  if (n.expiresAt) lines.push(`until ${n.expiresAt}`);
  lines.push(`<${url}|Open in Sallyport>`);
  return { text: lines.join('\n') };
}

/** A checkpoint copy: Sallyport's JSON (with the JWS), or a Slack message carrying the JWS. */
export function renderCheckpoint(c: SignedCheckpoint, format: WebhookConfig['format']): Record<string, unknown> {
  if (format === 'json') return { event: 'audit.checkpoint', n: c.n, seq: c.seq, hash: c.hash, kid: c.kid, jws: c.jws };
  return { text: `*Audit checkpoint ${c.n}* signed event ${c.seq} (key ${slack(c.kid)})\n\`\`\`${c.jws}\`\`\``, jws: c.jws };
}

/** Slack's mrkdwn treats &, < and > as control characters. */
function slack(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
