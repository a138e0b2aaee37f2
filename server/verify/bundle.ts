// Verifies an evidence bundle offline: no broker, no database. The recording must match the
// checkpoint signed when it was sealed; the session's events must recompute, link to each
// other through the chain excerpt, and end at a signed checkpoint; the event that ended the
// session must name the same recording. Keys: the bundle's JWKS, or a trusted one given by
// the auditor (recommended: the broker's published JWKS).
import type { RecordingEvidence } from '../audit/index.js';
import type { BundleEvents } from '../bundle/index.js';
import { readTar } from '../bundle/tar.js';
import { verifyJws, type Jwks } from '../signing/index.js';
import { verifyAuditChain, verifyCheckpoints, type EventRecord } from './audit.js';
import { compareRecordingFile, digestFile } from './recording.js';

export interface BundleReport {
  ok: boolean;
  summary: string;
}

/**
 * `archive` streams (a file read in chunks): the recording is hashed as it passes, in whatever
 * order the entries come, and only the small files are kept, so memory does not grow with the
 * recording.
 */
export async function verifyBundle(archive: Uint8Array | AsyncIterable<Uint8Array>, trusted?: Jwks): Promise<BundleReport> {
  const fail = (summary: string): BundleReport => ({ ok: false, summary });
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
    });
  } catch (err) {
    return fail(`not a readable bundle: ${(err as Error).message}`);
  }
  if (!recording) return fail('the bundle has no recording.cast');
  for (const name of ['recording-checkpoint.jws', 'events.json', 'jwks.json']) {
    if (!files.has(name)) return fail(`the bundle has no ${name}`);
  }
  const jwks = trusted ?? (JSON.parse(files.get('jwks.json')!.toString('utf8')) as Jwks);
  let sealed: RecordingEvidence;
  let sealKid: string;
  try {
    const { payload, kid } = await verifyJws(files.get('recording-checkpoint.jws')!.toString('utf8').trim(), jwks);
    const parsed = JSON.parse(payload) as { recording?: RecordingEvidence };
    if (!parsed.recording) return fail('recording-checkpoint.jws does not sign a recording');
    sealed = parsed.recording;
    sealKid = kid;
  } catch (err) {
    return fail(`recording-checkpoint.jws: ${(err as Error).message}`);
  }
  const rec = compareRecordingFile(sealed.sessionId, recording, sealed, `signed by ${sealKid}`);
  if (!rec.ok) return fail(rec.summary);

  const excerpt = JSON.parse(files.get('events.json')!.toString('utf8')) as BundleEvents;
  const { valid, problem } = await verifyCheckpoints([excerpt.checkpoint], jwks);
  if (problem) return fail(problem.message);
  const events: EventRecord[] = excerpt.events.map((e) =>
    'redacted' in e
      ? { seq: e.seq, at: new Date(0), actor: '', action: '', subject: null, details: null, prevHash: e.prevHash, hash: e.hash, redacted: true }
      : { seq: e.seq, at: new Date(e.at), actor: e.actor, action: e.action, subject: e.subject, details: e.details, prevHash: e.prevHash, hash: e.hash },
  );
  const chain = await verifyAuditChain(events, valid, { from: excerpt.from });
  if (!chain.ok) return fail(`audit events: ${chain.summary}`);
  if (chain.checkpoint?.seq !== events.at(-1)?.seq) return fail('audit events: the excerpt does not end at its signed checkpoint');
  const ended = excerpt.events.find((e) => !('redacted' in e) && e.action === 'console.ended' && e.subject === sealed.sessionId) as
    | { details: { recordingSha256?: string; recordingChainHash?: string } }
    | undefined;
  if (!ended) return fail('audit events: the bundle has no console.ended event for the recording');
  if (ended.details.recordingSha256 !== sealed.sha256 || ended.details.recordingChainHash !== sealed.chainHash) {
    return fail('audit events: console.ended names a different recording than the signed checkpoint');
  }
  const own = excerpt.events.filter((e) => !('redacted' in e)).length;
  return {
    ok: true,
    summary: `bundle for session ${sealed.sessionId} is intact: recording ${rec.bytes} bytes, sha256 ${sealed.sha256} signed by ${sealKid}; ${own} session events chained to checkpoint ${chain.checkpoint!.id} (event ${chain.checkpoint!.seq})`,
  };
}
