// Typed calls to the broker's JSON API; every call is same-origin with the session cookie.
export interface Me {
  user: { username: string; displayName: string | null; email: string | null; groups: string[]; roles: string[] };
  targets: Array<{ name: string; description: string; image: string; command: string[]; approvalRequired: boolean }>;
  csrfToken: string;
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path, { credentials: 'same-origin', headers: { accept: 'application/json' } });
  const body = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } };
  if (!res.ok) throw new ApiError(res.status, body.error?.code ?? 'HTTP_ERROR', body.error?.message ?? res.statusText);
  return body as T;
}

export interface SessionSummary {
  id: string;
  username: string;
  target: string;
  image: string;
  imageId: string | null;
  command: string[];
  startedAt: string;
  endedAt: string | null;
  durationSeconds: number | null;
  endReason: string | null;
  exitCode: number | null;
  bytesOut: number;
  bytesIn: number;
  recording: { sha256: string; bytes: number } | null;
}
