// Typed calls to the broker's JSON API; every call is same-origin with the session cookie.
export interface Me {
  user: { username: string; displayName: string | null; email: string | null; groups: string[]; roles: string[] };
  targets: Array<{
    name: string;
    description: string;
    image: string;
    command: string[];
    runtime: string;
    nodes: string[];
    disposable: boolean;
    approvalRequired: boolean;
    approval: { maxDurationSeconds: number; ticketPattern: string | null; approvals: number } | null;
    grant: { id: string; expiresAt: string; sessionsLeft: number | null } | null;
  }>;
  /** The SSH front door, when it listens: `command` has TARGET where a target's name goes. */
  ssh: { command: string; fingerprint: string } | null;
  csrfToken: string;
}

let csrfToken = '';
/** Set once from /api/me; every state change sends it. */
export function useCsrfToken(token: string): void {
  csrfToken = token;
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export async function getJson<T>(path: string): Promise<T> {
  return answer<T>(await fetch(path, { credentials: 'same-origin', headers: { accept: 'application/json' } }));
}

/**
 * A state change. When the broker wants a fresher login (REAUTH_REQUIRED), the browser goes
 * through the IdP again (max_age) and comes back to this page; nothing was changed meanwhile.
 */
export async function postJson<T>(path: string, body: unknown): Promise<T> {
  const res = await fetch(path, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { accept: 'application/json', 'content-type': 'application/json', 'x-csrf-token': csrfToken },
    body: JSON.stringify(body),
  });
  try {
    return await answer<T>(res);
  } catch (err) {
    if (err instanceof ApiError && err.code === 'REAUTH_REQUIRED') {
      window.location.assign(`/auth/login?reauth=1&returnTo=${encodeURIComponent(location.pathname + location.search)}`);
    }
    throw err;
  }
}

async function answer<T>(res: Response): Promise<T> {
  const body = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string; problems?: Array<{ field: string; message: string }> } };
  if (!res.ok) {
    const problems = body.error?.problems?.map((p) => `${p.field} ${p.message}`).join('; ');
    throw new ApiError(res.status, body.error?.code ?? 'HTTP_ERROR', problems ? `${body.error?.message}: ${problems}` : (body.error?.message ?? res.statusText));
  }
  return body as T;
}

export interface AccessRequest {
  id: string;
  requester: string;
  target: string;
  image: string;
  command: string[];
  reason: string;
  durationSeconds: number;
  approvalsNeeded: number;
  maxSessions: number | null;
  sessionsUsed: number;
  status: 'pending' | 'approved' | 'denied' | 'withdrawn' | 'expired' | 'revoked';
  statusReason: string | null;
  createdAt: string;
  decidedAt: string | null;
  expiresAt: string | null;
  opensConsole: { ok: boolean; why: string | null };
  /** The grant this request asks more time for. */
  extends: string | null;
  youMay: { decide: boolean; withdraw: boolean; revoke: boolean; handBack: boolean; openConsole: boolean; extend: boolean };
}

export interface AccessRequestDetail extends AccessRequest {
  decisions: Array<{ approver: string; decision: 'approve' | 'deny'; comment: string; decidedAt: string }>;
  approvers: { groups: string[]; users: string[] };
  sessions: Array<{ id: string; startedAt: string; endedAt: string | null }>;
  equalGrantInForce: { id: string; reason: string; expiresAt: string } | null;
}

export interface SessionSummary {
  id: string;
  username: string;
  target: string;
  /** The front door: 'web' (browser) or 'ssh' (a stock ssh client, with its version). */
  via: 'web' | 'ssh';
  clientAddress: string | null;
  clientVersion: string | null;
  image: string;
  imageId: string | null;
  command: string[];
  startedAt: string;
  endedAt: string | null;
  durationSeconds: number | null;
  endReason: string | null;
  endCode: string | null;
  /** An admin's name for a terminate, else process, user, login, policy, grant, catalogue, network, node or broker. */
  endedBy: string | null;
  approved: boolean;
  exitCode: number | null;
  bytesOut: number;
  bytesIn: number;
  /** Characters typed without echo (stored masked); quietInput: more than passwords account for. */
  maskedInputChars: number | null;
  quietInput: boolean;
  /** expiredAt: retention removed its bytes (hash and size stay); heldSince: a legal hold keeps it. */
  recording: { sha256: string; bytes: number; truncated: string | null; expiredAt: string | null; heldSince: string | null } | null;
}
