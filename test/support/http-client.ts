// A small HTTP client with a cookie jar per origin, following redirects one by one so tests
// can look at (and tamper with) each hop of a login, as a browser would make them.

export interface Hop {
  url: string;
  status: number;
  headers: Headers;
  body: string;
}

export class Browser {
  private jar = new Map<string, Map<string, string>>();

  cookies(origin: string): Map<string, string> {
    let c = this.jar.get(origin);
    if (!c) this.jar.set(origin, (c = new Map()));
    return c;
  }

  async request(url: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string>; json?: unknown } = {}): Promise<Hop> {
    const u = new URL(url);
    const headers: Record<string, string> = { accept: 'text/html,application/json', ...init.headers };
    const cookie = [...this.cookies(u.origin)].map(([k, v]) => `${k}=${v}`).join('; ');
    if (cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    } else if (init.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.json);
    }
    const res = await fetch(url, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) this.store(u.origin, line);
    return { url, status: res.status, headers: res.headers, body: await res.text() };
  }

  /** Follows redirects from `url` until a non-redirect or `stop` says to stop at a hop. */
  async follow(url: string, options: { stop?: (next: URL) => boolean; max?: number } = {}): Promise<{ hop: Hop; hops: Hop[]; stoppedAt?: URL }> {
    const hops: Hop[] = [];
    let hop = await this.request(url);
    hops.push(hop);
    for (let i = 0; i < (options.max ?? 15); i++) {
      const location = hop.headers.get('location');
      if (hop.status < 300 || hop.status >= 400 || !location) return { hop, hops };
      const next = new URL(location, hop.url);
      if (options.stop?.(next)) return { hop, hops, stoppedAt: next };
      hop = await this.request(next.href);
      hops.push(hop);
    }
    throw new Error(`too many redirects from ${url}`);
  }

  private store(origin: string, line: string): void {
    const [pair, ...attrs] = line.split(';');
    const eq = pair!.indexOf('=');
    const name = pair!.slice(0, eq).trim();
    const value = pair!.slice(eq + 1).trim();
    const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a) || (/^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]!) < Date.now()));
    if (expired || value === '') this.cookies(origin).delete(name);
    else this.cookies(origin).set(name, value);
  }
}
