// The evidence bundle's player.html: one self-contained page (xterm.js inlined, no network) that
// verifies what it plays. It carries the bundle's signed checkpoints, audit excerpt and JWKS; the
// auditor picks recording.cast from the bundle (a page opened from file:// may not read files
// beside it unasked). Before playing, with WebCrypto, it checks:
//   - the recording checkpoint's Ed25519 signature against the bundled JWKS, and that it signs
//     this session's recording;
//   - the audit excerpt: every event's hash recomputed (the audit chain's canonical encoding,
//     audit/chain.ts), every link, and the excerpt's checkpoint signature at its last event;
//   - console.ended names the signed recording;
//   - the chosen file's SHA-256 and size against the signed ones.
// Then a green "verified" banner, with the key's id and RFC 7638 thumbprint to compare with the
// broker's published JWKS — or a red TAMPERED banner, and nothing is played. It checks the
// bundle's own copies: whoever can rewrite the bundle can rewrite this page too, so the banner
// names the key to check elsewhere, and `sallyport verify recording BUNDLE --jwks …` is the
// independent check.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { escapeHtml } from '../html.js';
import type { Jwks } from '../signing/index.js';

const require = createRequire(import.meta.url);

export interface PlayerInput {
  sessionId: string;
  recordingJws: string;
  /** events.json as it is in the bundle (canonical JSON). */
  eventsJson: string;
  jwks: Jwks;
  approval: unknown;
}

export function playerHtml(input: PlayerInput): string {
  const js = readFileSync(require.resolve('@xterm/xterm/lib/xterm.js'), 'utf8');
  const css = readFileSync(require.resolve('@xterm/xterm/css/xterm.css'), 'utf8');
  // Inside <script>: no "</script" (nor "<!--") may appear in the code.
  const safe = (s: string) => s.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
  const data = jsonForScript({ sessionId: input.sessionId, recordingJws: input.recordingJws, events: JSON.parse(input.eventsJson), jwks: input.jwks, approval: input.approval });
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Sallyport recording ${escapeHtml(input.sessionId)}</title>
<style>${css}
body{font-family:system-ui,sans-serif;margin:1rem;max-width:72rem}
#verdict{padding:.75rem 1rem;border-radius:.4rem;font-weight:600;margin:1rem 0;overflow-wrap:anywhere}
#verdict.pending{background:#eee;color:#333}
#verdict.verified{background:#dff5e1;color:#0b5d1e;border:1px solid #0b5d1e}
#verdict.tampered{background:#fde2e1;color:#8a1111;border:1px solid #8a1111}
dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.2rem 1rem}dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere;min-width:0}
.controls{display:flex;gap:.75rem;align-items:center;flex-wrap:wrap;margin:.5rem 0}
#seek{flex:1;min-width:12rem}
#term{max-width:100%;overflow-x:auto}
@media (max-width:40rem){body{margin:.5rem}dl{grid-template-columns:1fr}dd{margin:0 0 .4rem}h1{font-size:1.1rem;overflow-wrap:anywhere}#seek{min-width:8rem}}
</style></head><body>
<h1>Recording ${escapeHtml(input.sessionId)}</h1>
<div id="verdict" class="pending" role="status">Checking the signed checkpoints and the audit events…</div>
<dl id="facts"></dl>
<p><label>Choose <code>recording.cast</code> from this bundle to verify and play it: <input type="file" id="file" accept=".cast"></label></p>
<div class="controls" id="controls" hidden>
<button id="play" type="button">Pause</button>
<label>Position <input id="seek" type="range" min="0" max="0" step="0.1" value="0"></label>
<span id="clock">0:00</span>
<label>Speed <select id="speed"><option>1</option><option>2</option><option selected>4</option><option>16</option></select></label>
</div>
<div id="term"></div>
<script type="application/json" id="bundle">${data}</script>
<script>${safe(js)}</script>
<script>${safe(PLAYER_JS)}</script>
</body></html>`;
}

/**
 * JSON placed inside a <script> element: <, > and & (and U+2028/9, line ends to older parsers)
 * written as \u escapes, which JSON reads back unchanged — so no text in a recording's events
 * ("<!--", "</script>") can end or confuse the element, and the JSON stays valid.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The page's own code: plain browser JavaScript (no build step; it runs from file://). */
const PLAYER_JS = String.raw`
(function () {
  'use strict';
  var bundle = JSON.parse(document.getElementById('bundle').textContent);
  var verdict = document.getElementById('verdict');
  var enc = new TextEncoder();
  function show(kind, text) { verdict.className = kind; verdict.textContent = text; verdict.dataset.state = kind; }
  function hex(buf) { return Array.from(new Uint8Array(buf), function (b) { return b.toString(16).padStart(2, '0'); }).join(''); }
  function b64url(bytes) { return btoa(String.fromCharCode.apply(null, Array.from(new Uint8Array(bytes)))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''); }
  function unb64url(s) { var b = atob(s.replace(/-/g, '+').replace(/_/g, '/')); var out = new Uint8Array(b.length); for (var i = 0; i < b.length; i++) out[i] = b.charCodeAt(i); return out; }
  function sha256(bytes) { return crypto.subtle.digest('SHA-256', bytes); }
  // The audit chain's encoding (server/audit/chain.ts): keys sorted at every level, no spaces.
  function canonical(v) {
    if (v === null || typeof v !== 'object') { var t = JSON.stringify(v); return t === undefined ? 'null' : t; }
    if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
    var keys = Object.keys(v).filter(function (k) { return v[k] !== undefined && typeof v[k] !== 'function'; }).sort();
    return '{' + keys.map(function (k) { return JSON.stringify(k) + ':' + canonical(v[k]); }).join(',') + '}';
  }
  async function verifyJws(jws) {
    var parts = jws.trim().split('.');
    if (parts.length !== 3) throw new Error('not a compact JWS');
    var header = JSON.parse(new TextDecoder().decode(unb64url(parts[0])));
    if (header.alg !== 'EdDSA') throw new Error('unexpected algorithm ' + header.alg);
    var jwk = (bundle.jwks.keys || []).find(function (k) { return k.kid === header.kid; });
    if (!jwk) throw new Error('signed by key ' + header.kid + ', which the bundle\'s JWKS does not hold');
    var key = await crypto.subtle.importKey('jwk', { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, { name: 'Ed25519' }, false, ['verify']);
    var ok = await crypto.subtle.verify({ name: 'Ed25519' }, key, unb64url(parts[2]), enc.encode(parts[0] + '.' + parts[1]));
    if (!ok) throw new Error('the signature of key ' + header.kid + ' does not match');
    var thumb = b64url(await sha256(enc.encode(canonical({ crv: jwk.crv, kty: jwk.kty, x: jwk.x }))));
    return { payload: JSON.parse(new TextDecoder().decode(unb64url(parts[1]))), kid: header.kid, thumbprint: thumb };
  }
  async function sha256text(text) { return hex(await sha256(enc.encode(text))); }
  function commitment(subject) { return subject === null ? Promise.resolve(null) : sha256text('sallyport.audit-subject:' + subject); }
  // The chain's two versions (server/audit/chain.ts): 1 hashes the whole event; 2 hashes the link
  // (seq, prev, subject commitment, content hash), which a hidden event still carries.
  async function eventHash(e) {
    if ((e.v || 1) === 1) {
      if (e.redacted) throw new Error('event ' + e.seq + ' is hidden but was chained before chain version 2: its link cannot be checked here');
      return sha256text(canonical({ v: 1, seq: e.seq, at: e.at, actor: e.actor, action: e.action, subject: e.subject, details: e.details, prev: e.prevHash }));
    }
    var subject = e.redacted ? e.subject : await commitment(e.subject);
    var content = e.redacted ? e.content : await sha256text(canonical({ at: e.at, actor: e.actor, action: e.action, subject: e.subject, details: e.details }));
    return sha256text(canonical({ v: 2, seq: e.seq, prev: e.prevHash, subject: subject, content: content }));
  }
  async function verifyEvents() {
    var ex = bundle.events;
    var prev = ex.from.hash;
    for (var i = 0; i < ex.events.length; i++) {
      var e = ex.events[i];
      if (e.prevHash !== prev) throw new Error('event ' + e.seq + ' does not link to the one before it');
      if ((await eventHash(e)) !== e.hash) throw new Error('event ' + e.seq + (e.action ? ' (' + e.action + ')' : '') + ' was changed: its hash does not match');
      prev = e.hash;
    }
    var cp = await verifyJws(ex.checkpoint.jws);
    var last = ex.events[ex.events.length - 1];
    if (!last || cp.payload.seq !== last.seq || cp.payload.hash !== last.hash) throw new Error('the audit excerpt does not end at its signed checkpoint');
    return ex.events.filter(function (e) { return !e.redacted; });
  }
  // The approval as the chained access events say it; approval.json must agree.
  function chainedApproval(own, grantId) {
    var mine = own.filter(function (e) { return e.subject === grantId; });
    var req = mine.find(function (e) { return e.action === 'access.requested'; });
    var ok = mine.find(function (e) { return e.action === 'access.approved'; });
    if (!req || !ok) throw new Error('the session ran under grant ' + grantId + ', whose request or approval is not among the chained events');
    var decisions = mine.filter(function (e) { return e.action === 'access.decision'; }).map(function (e) { return { approver: e.details.username || e.actor, decision: e.details.decision, comment: e.details.comment || '' }; });
    var a = bundle.approval;
    if (!a || a.id !== grantId || a.reason !== req.details.reason || a.target !== req.details.target || (a.decisions || []).length !== decisions.length ||
        decisions.some(function (d, i) { var g = a.decisions[i]; return g.decision !== d.decision || (g.comment || '') !== d.comment || (d.approver.indexOf('user:') !== 0 && g.approver !== d.approver); })) {
      throw new Error('approval.json does not say what the chained access events say');
    }
    return { requester: req.details.username || req.actor, reason: req.details.reason, decisions: decisions, auto: !!ok.details.auto };
  }
  var sealed = null;
  var facts = document.getElementById('facts');
  function fact(k, v) { var dt = document.createElement('dt'); dt.textContent = k; var dd = document.createElement('dd'); dd.textContent = v; facts.append(dt, dd); }
  var ready = (async function () {
    var rec = await verifyJws(bundle.recordingJws);
    if (!rec.payload.recording || rec.payload.recording.sessionId !== bundle.sessionId) throw new Error('the recording checkpoint does not sign this session\'s recording');
    var own = await verifyEvents();
    var opened = own.find(function (e) { return e.action === 'console.opened' && e.subject === bundle.sessionId; });
    if (!opened) throw new Error('the bundle has no console.opened event for this session');
    var grantId = opened.details.grantId || null;
    var mineC = [await commitment(bundle.sessionId)].concat(grantId ? [await commitment(grantId)] : []);
    var hidden = bundle.events.events.find(function (e) { return e.redacted && e.subject && mineC.indexOf(e.subject) >= 0; });
    if (hidden) throw new Error('event ' + hidden.seq + ' belongs to this session but is hidden');
    if (!grantId && bundle.approval) throw new Error('approval.json describes an approval, but the session used no grant');
    var approval = grantId ? chainedApproval(own, grantId) : null;
    var ended = own.find(function (e) { return e.action === 'console.ended' && e.subject === bundle.sessionId; });
    var late = own.find(function (e) { return e.action === 'recording.sealed_late' && e.subject === bundle.sessionId; });
    var named = ended && ended.details.recordingSha256 == null && late ? late.details.sha256 : ended && ended.details.recordingSha256;
    if (!ended || named !== rec.payload.recording.sha256) throw new Error('console.ended names a different recording than the signed checkpoint');
    sealed = { evidence: rec.payload.recording, kid: rec.kid, thumbprint: rec.thumbprint, events: own.length };
    fact('Who', opened.details.username); fact('Target', opened.details.target + ' (' + opened.details.image + ')'); fact('Opened', opened.at);
    fact('Ended', ended.at + ' — ' + ended.details.reason);
    var a = approval;
    fact('Approval', a ? (a.requester + ' asked: "' + a.reason + '"; ' + (a.auto ? 'approved automatically' : a.decisions.map(function (d) { return d.approver + ' ' + d.decision + (d.comment ? ' ("' + d.comment + '")' : ''); }).join(', '))) : 'none needed');
    fact('Signed by', rec.kid + ' (thumbprint ' + rec.thumbprint + ')');
    show('pending', 'Checkpoints and ' + own.length + ' audit events check out (signed by key ' + rec.kid + '). Choose recording.cast to verify it before it plays.');
  })().catch(function (err) { show('tampered', 'TAMPERED: ' + err.message); throw err; });

  var term = null, events = [], duration = 0, pos = 0, playing = false, last = 0, shown = 0;
  var seek = document.getElementById('seek'), clock = document.getElementById('clock'), play = document.getElementById('play');
  function fmt(s) { s = Math.floor(s); return Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0'); }
  function render(to) {
    // Forward from where the screen is, or from the start for a step back.
    if (to < pos) { term.reset(); shown = 0; }
    while (shown < events.length && events[shown][0] <= to) {
      var ev = events[shown++];
      if (ev[1] === 'o') term.write(ev[2]);
      else if (ev[1] === 'r') { var s = ev[2].split('x').map(Number); term.resize(s[0], s[1]); }
    }
    pos = to; seek.value = String(to); clock.textContent = fmt(to) + ' / ' + fmt(duration);
  }
  function tick(now) {
    if (!playing) return;
    var speed = Number(document.getElementById('speed').value);
    var to = Math.min(duration, pos + (now - last) / 1000 * speed);
    last = now;
    render(to);
    if (to >= duration) { playing = false; play.textContent = 'Play'; return; }
    requestAnimationFrame(tick);
  }
  play.addEventListener('click', function () {
    playing = !playing; play.textContent = playing ? 'Pause' : 'Play';
    if (playing) { if (pos >= duration) render(0); last = performance.now(); requestAnimationFrame(tick); }
  });
  seek.addEventListener('input', function () { render(Number(seek.value)); });
  document.getElementById('file').addEventListener('change', async function (ev) {
    try { await ready; } catch (e) { return; }
    var bytes = new Uint8Array(await ev.target.files[0].arrayBuffer());
    var got = hex(await sha256(bytes));
    document.getElementById('term').replaceChildren();
    document.getElementById('controls').hidden = true;
    playing = false;
    if (got !== sealed.evidence.sha256 || bytes.length !== sealed.evidence.bytes) {
      show('tampered', 'TAMPERED: this recording.cast is not the one signed when the session ended (sha256 ' + got + ', ' + bytes.length + ' bytes; signed: ' + sealed.evidence.sha256 + ', ' + sealed.evidence.bytes + ' bytes). It is not played.');
      return;
    }
    show('verified', 'Verified against the key inside this bundle: ' + sealed.kid + ' (thumbprint ' + sealed.thumbprint + '), chain intact (' + sealed.events + ' session events to a signed checkpoint), recording sha256 ' + got + '. Anyone can make a bundle with a key of their own: compare the thumbprint with the broker\'s /.well-known/jwks.json.');
    var lines = new TextDecoder().decode(bytes).split('\n').filter(Boolean);
    var h = JSON.parse(lines[0]);
    events = lines.slice(1).map(function (l) { return JSON.parse(l); });
    duration = events.length ? events[events.length - 1][0] : 0;
    seek.max = String(duration);
    // On a phone the recording's columns fit the screen's width (a monospace cell is about 0.6 em wide).
    var fit = Math.floor((document.documentElement.clientWidth - 24) / (h.width * 0.6));
    term = new Terminal({ cols: h.width, rows: h.height, fontFamily: '"DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, ui-monospace, monospace', fontSize: Math.max(5, Math.min(14, fit)), lineHeight: 1.15, disableStdin: true, linkHandler: { activate: function () {} } });
    term.open(document.getElementById('term'));
    document.getElementById('controls').hidden = false;
    pos = 0; shown = 0; render(0);
    playing = true; play.textContent = 'Pause'; last = performance.now(); requestAnimationFrame(tick);
  });
})();
`;
