// Verifies an evidence bundle offline: no broker, no database. The recording must match the
// checkpoint signed when it was sealed; the session's events must recompute, link to each
// other through the chain excerpt (other sessions' events by their content hashes), and end at
// a signed checkpoint; none of the session's or its grant's events may be hidden; the event that
// ended the session must name the same recording; the approval shown is the one read from the
// chained access events, and approval.json must agree with it. Keys: a trusted JWKS given by the
// auditor (the broker's published one); the bundle's own keys only when the auditor says so,
// and then the verdict says the bundle vouches for itself.
import { subjectCommitment, type RecordingEvidence } from '../audit/index.js';
import type { BundleEvents } from '../bundle/index.js';
import { readTar } from '../bundle/tar.js';
import { verifyJws, type Jwks } from '../signing/index.js';
import { verifyAuditChain, verifyCheckpoints, type EventRecord } from './audit.js';
import { compareRecordingFile, digestFile } from './recording.js';

/** The files a bundle holds, and nothing else. */
export const BUNDLE_FILES = ['README.txt', 'events.json', 'recording-checkpoint.jws', 'jwks.json', 'approval.json', 'player.html', 'recording.cast'] as const;

export interface BundleReport {
  ok: boolean;
  /** `anchored`: keys the auditor gave; `bundle`: only the bundle's own keys (it vouches for itself). */
  trust: 'anchored' | 'bundle' | null;
  /** RFC 7638 thumbprint of the key that signed the recording: compare with the broker's. */
  thumbprint: string | null;
  summary: string;
}

/** The approval as the chained access.* events say it, which approval.json must match. */
export interface ChainedApproval {
  requestId: string;
  requester: string;
  reason: string;
  target: string;
  image: string;
  command: string[];
  durationSeconds: number;
  decisions: Array<{ approver: string; decision: string; comment: string }>;
  approved: 'by approvers' | 'automatically';
}

type Shown = Extract<BundleEvents['events'][number], { at: string }>;

/**
 * `archive` streams (a file read in chunks): the recording is hashed as it passes, in whatever
 * order the entries come, and only the small files are kept, so memory does not grow with the
 * recording. `trusted`: the keys to trust; without them the bundle's own keys are used only with
 * `trustBundleKeys`, and the verdict is never better than "verified against its own keys".
 */
export async function verifyBundle(archive: Uint8Array | AsyncIterable<Uint8Array>, trusted?: Jwks, options: { trustBundleKeys?: boolean } = {}): Promise<BundleReport> {
  let thumbprint: string | null = null;
  const trust = trusted ? ('anchored' as const) : ('bundle' as const);
  const fail = (summary: string): BundleReport => ({ ok: false, trust: null, thumbprint, summary });
  let files: Map<string, Buffer>;
  let recording: { sha256: string; bytes: number } | undefined;
  try {
    files = await readTar(archive, {
      streamed: {
        'recording.cast': async (chunks) => {
          recording = await digestFile(chunks);
        },
      },
      // events.json grows with the events between the session's first and its checkpoint.
      maxFileBytes: 256 * 1024 * 1024,
      expected: BUNDLE_FILES,
    });
  } catch (err) {
    return fail(`not a readable bundle: ${(err as Error).message}`);
  }
  if (!recording) return fail('the bundle has no recording.cast');
  for (const name of ['recording-checkpoint.jws', 'events.json', 'jwks.json']) {
    if (!files.has(name)) return fail(`the bundle has no ${name}`);
  }
  let jwks: Jwks;
  let excerpt: BundleEvents;
  let approvalFile: unknown;
  try {
    jwks = trusted ?? (JSON.parse(files.get('jwks.json')!.toString('utf8')) as Jwks);
    excerpt = JSON.parse(files.get('events.json')!.toString('utf8')) as BundleEvents;
    approvalFile = files.has('approval.json') ? JSON.parse(files.get('approval.json')!.toString('utf8')) : null;
  } catch (err) {
    return fail(`the bundle's JSON does not parse: ${(err as Error).message}`);
  }
  let sealed: RecordingEvidence;
  let sealKid: string;
  try {
    const verified = await verifyJws(files.get('recording-checkpoint.jws')!.toString('utf8').trim(), jwks);
    const parsed = JSON.parse(verified.payload) as { recording?: RecordingEvidence };
    thumbprint = verified.thumbprint;
    if (!parsed.recording) return fail('recording-checkpoint.jws does not sign a recording');
    sealed = parsed.recording;
    sealKid = verified.kid;
  } catch (err) {
    return fail(`recording-checkpoint.jws: ${(err as Error).message}`);
  }
  const rec = compareRecordingFile(sealed.sessionId, recording, sealed, `signed by ${sealKid}`);
  if (!rec.ok) return fail(rec.summary);

  const { valid, problem } = await verifyCheckpoints([excerpt.checkpoint], jwks);
  if (problem) return fail(problem.message);
  const events: EventRecord[] = excerpt.events.map((e) =>
    'redacted' in e
      ? {
          v: e.v,
          seq: e.seq,
          at: new Date(0),
          actor: '',
          action: '',
          subject: null,
          details: null,
          prevHash: e.prevHash,
          hash: e.hash,
          redacted: { subjectCommitment: e.subject ?? null, contentHash: e.content ?? '' },
        }
      : { v: e.v, seq: e.seq, at: new Date(e.at), actor: e.actor, action: e.action, subject: e.subject, details: e.details, prevHash: e.prevHash, hash: e.hash },
  );
  const chain = await verifyAuditChain(events, valid, { from: excerpt.from });
  if (!chain.ok) return fail(`audit events: ${chain.summary}`);
  if (chain.checkpoint?.seq !== events.at(-1)?.seq) return fail('audit events: the excerpt does not end at its signed checkpoint');

  const shown = excerpt.events.filter((e): e is Shown => !('redacted' in e));
  const opened = shown.find((e) => e.action === 'console.opened' && e.subject === sealed.sessionId) as (Shown & { details: { grantId?: string | null; username?: string } }) | undefined;
  if (!opened) return fail('audit events: the bundle has no console.opened event for the recording');
  const grantId = opened.details.grantId ?? null;
  // The session's and its grant's events may not be among the hidden ones.
  const own = new Set([subjectCommitment(sealed.sessionId), ...(grantId ? [subjectCommitment(grantId)] : [])]);
  const hidden = excerpt.events.find((e) => 'redacted' in e && e.subject != null && own.has(e.subject));
  if (hidden) return fail(`audit events: event ${hidden.seq} belongs to this session${grantId ? ' or its grant' : ''} but is hidden`);
  const ended = shown.find((e) => e.action === 'console.ended' && e.subject === sealed.sessionId) as
    | { details: { recordingSha256?: string; recordingChainHash?: string } }
    | undefined;
  if (!ended) return fail('audit events: the bundle has no console.ended event for the recording');
  // A recording storage refused to seal when the session ended is sealed later, in its own event.
  const late = shown.find((e) => e.action === 'recording.sealed_late' && e.subject === sealed.sessionId) as { details: { sha256?: string; chainHash?: string } } | undefined;
  const named = ended.details.recordingSha256 == null && late ? { sha256: late.details.sha256, chainHash: late.details.chainHash } : { sha256: ended.details.recordingSha256, chainHash: ended.details.recordingChainHash };
  if (named.sha256 !== sealed.sha256 || named.chainHash !== sealed.chainHash) {
    return fail(`audit events: ${late ? 'recording.sealed_late' : 'console.ended'} names a different recording than the signed checkpoint`);
  }
  const approval = grantId ? chainedApproval(shown, grantId) : null;
  if (grantId && typeof approval === 'string') return fail(`audit events: ${approval}`);
  const differs = compareApproval(approvalFile, approval as ChainedApproval | null);
  if (differs) return fail(`approval.json ${differs}`);

  const approvalLine = approval ? `; approval from the chained events: ${describeApproval(approval as ChainedApproval)}` : '; no approval was needed';
  const keyLine = `signed by ${sealKid} (thumbprint ${thumbprint})`;
  const body = `recording ${rec.bytes} bytes, sha256 ${sealed.sha256} ${keyLine}; ${shown.length} session events chained to checkpoint ${chain.checkpoint!.id} (event ${chain.checkpoint!.seq})${approvalLine}`;
  if (trust === 'bundle' && !options.trustBundleKeys) {
    return {
      ok: false,
      trust: 'bundle',
      thumbprint,
      summary: `verified only against keys inside the bundle (thumbprint ${thumbprint}): anyone can make such a bundle. Give the broker's published keys (--jwks URL|FILE), or --trust-bundle-keys once the thumbprint matches the broker's. Bundle for session ${sealed.sessionId}: ${body}`,
    };
  }
  return { ok: true, trust, thumbprint, summary: `bundle for session ${sealed.sessionId} is intact${trust === 'bundle' ? ' against the keys inside the bundle' : ''}: ${body}` };
}

/** The approval as the chain says it, or why it cannot be read from the chain. */
export function chainedApproval(shown: readonly Shown[], grantId: string): ChainedApproval | string {
  const mine = shown.filter((e) => e.subject === grantId);
  const requested = mine.find((e) => e.action === 'access.requested') as (Shown & { details: Record<string, unknown> }) | undefined;
  const approved = mine.find((e) => e.action === 'access.approved') as (Shown & { details: { auto?: boolean } }) | undefined;
  if (!requested) return `the session ran under grant ${grantId}, whose access.requested event is not in the bundle`;
  if (!approved) return `the session ran under grant ${grantId}, whose access.approved event is not in the bundle`;
  const d = requested.details;
  return {
    requestId: grantId,
    requester: typeof d.username === 'string' ? d.username : requested.actor,
    reason: String(d.reason ?? ''),
    target: String(d.target ?? ''),
    image: String(d.image ?? ''),
    command: Array.isArray(d.command) ? d.command.map(String) : [],
    durationSeconds: Number(d.durationSeconds),
    decisions: mine
      .filter((e) => e.action === 'access.decision')
      .map((e) => {
        const x = e.details as { username?: string; decision?: string; comment?: string };
        return { approver: x.username ?? e.actor, decision: String(x.decision), comment: String(x.comment ?? '') };
      }),
    approved: approved.details.auto ? 'automatically' : 'by approvers',
  };
}

function describeApproval(a: ChainedApproval): string {
  const decisions = a.decisions.map((d) => `${d.approver} ${d.decision}d${d.comment ? ` ("${d.comment}")` : ''}`).join(', ');
  return `${a.requester} asked for ${a.target} ("${a.reason}"), approved ${a.approved}${decisions ? `: ${decisions}` : ''}`;
}

/** Why approval.json does not say what the chain says, or null when it agrees (or is absent where none was needed). */
function compareApproval(file: unknown, chained: ChainedApproval | null): string | null {
  if (!chained) return file === null || file === undefined ? null : 'describes an approval, but the session used no grant';
  if (!file || typeof file !== 'object') return `is missing, but the session ran under grant ${chained.requestId}`;
  const f = file as { id?: string; requester?: string; reason?: string; target?: string; image?: string; command?: string[]; durationSeconds?: number; decisions?: Array<{ approver?: string; decision?: string; comment?: string }> };
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  if (f.id !== chained.requestId) return `names request ${String(f.id)}, the chain grant ${chained.requestId}`;
  // Events before 0.2.0 name people by id: a name is compared only where the chain holds one.
  if (!chained.requester.startsWith('user:') && f.requester !== chained.requester) return `says ${String(f.requester)} asked, the chained events say ${chained.requester}`;
  for (const k of ['reason', 'target', 'image', 'command', 'durationSeconds'] as const) {
    if (!same(f[k], chained[k])) return `says ${k} ${JSON.stringify(f[k])}, the chained events say ${JSON.stringify(chained[k])}`;
  }
  const fd = f.decisions ?? [];
  if (fd.length !== chained.decisions.length) return `lists ${fd.length} decisions, the chained events ${chained.decisions.length}`;
  for (const [i, d] of chained.decisions.entries()) {
    const g = fd[i]!;
    if (g.decision !== d.decision || (g.comment ?? '') !== d.comment || (!d.approver.startsWith('user:') && g.approver !== d.approver)) {
      return `says decision ${i + 1} was ${String(g.approver)} ${String(g.decision)}, the chained events say ${d.approver} ${d.decision}`;
    }
  }
  return null;
}
