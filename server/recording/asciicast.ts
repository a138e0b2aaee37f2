// asciicast v2 encoding: one JSON header line, then one JSON array per event
// ([seconds, code, data]). Pure functions; see https://docs.asciinema.org/manual/asciicast/v2/.

export interface AsciicastHeader {
  version: 2;
  width: number;
  height: number;
  timestamp: number;
  command?: string;
  title?: string;
  env?: Record<string, string>;
}

/** o: output, i: input, r: resize, m: marker (used to note masked input). */
export type EventCode = 'o' | 'i' | 'r' | 'm';

export function headerLine(h: AsciicastHeader): string {
  return `${JSON.stringify(h)}\n`;
}

export function eventLine(seconds: number, code: EventCode, data: string): string {
  // Microsecond precision, as asciinema writes it.
  return `${JSON.stringify([Math.round(seconds * 1e6) / 1e6, code, data])}\n`;
}

export interface ParsedEvent {
  time: number;
  code: string;
  data: string;
}

/**
 * The event lines of one stored chunk (or any slice of a recording that ends at a line end).
 * Lines that are not events (the header) are skipped, as a player skips them.
 */
export function chunkEvents(data: Uint8Array | string): Array<{ t: number; code: string; data: string }> {
  const out: Array<{ t: number; code: string; data: string }> = [];
  const text = typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
  for (const line of text.split('\n')) {
    if (!line.startsWith('[')) continue;
    let e: unknown;
    try {
      e = JSON.parse(line);
    } catch {
      continue;
    }
    if (Array.isArray(e) && typeof e[0] === 'number' && typeof e[1] === 'string' && typeof e[2] === 'string') out.push({ t: e[0], code: e[1], data: e[2] });
  }
  return out;
}

/** A resize event's data ("120x40") as a size, or undefined. */
export function resizeOf(data: string): { cols: number; rows: number } | undefined {
  const m = /^(\d{1,4})x(\d{1,4})$/.exec(data);
  return m ? { cols: Number(m[1]), rows: Number(m[2]) } : undefined;
}

/** Parses a whole asciicast text (tests, verifier); throws on malformed lines. */
export function parseAsciicast(text: string): { header: AsciicastHeader; events: ParsedEvent[] } {
  const lines = text.split('\n').filter((l) => l.length > 0);
  const header = JSON.parse(lines[0] ?? '') as AsciicastHeader;
  if (header.version !== 2) throw new Error('not an asciicast v2 file');
  const events = lines.slice(1).map((l, i) => {
    const e = JSON.parse(l) as unknown;
    if (!Array.isArray(e) || typeof e[0] !== 'number' || typeof e[1] !== 'string' || typeof e[2] !== 'string') {
      throw new Error(`line ${i + 2} is not an event`);
    }
    return { time: e[0], code: e[1], data: e[2] };
  });
  return { header, events };
}
