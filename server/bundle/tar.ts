// Evidence bundles as tar archives (tar-stream). Written as a stream: a tar header carries the
// file's size, so every size is known before its bytes are streamed (the recording comes from
// PostgreSQL chunk by chunk). Read as a stream too: the verifier hashes the recording as it
// passes and keeps only the small files, so a bundle of any size is checked in bounded memory.
import { extract, pack } from 'tar-stream';

export interface TarFile {
  name: string;
  size: number;
  body: Buffer | AsyncIterable<Buffer>;
}

type Waitable = { once(event: string, f: () => void): unknown; off(event: string, f: () => void): unknown };
/** Resolves when a stream may take more, or is gone (then the caller stops writing). */
const drained = (s: Waitable) =>
  new Promise<void>((resolve) => {
    const done = () => {
      s.off('drain', done);
      s.off('close', done);
      resolve();
    };
    s.once('drain', done);
    s.once('close', done);
  });

export async function* tarStream(files: TarFile[], mtime = Date.now()): AsyncGenerator<Buffer> {
  const archive = pack();
  const feeding = (async () => {
    for (const f of files) {
      if (Buffer.byteLength(f.name) >= 100) throw new Error(`tar name too long: ${f.name}`);
      let entry!: ReturnType<typeof archive.entry>;
      const done = new Promise<void>((resolve, reject) => {
        entry = archive.entry({ name: f.name, size: f.size, mode: 0o644, mtime: new Date(mtime) }, (err) => (err ? reject(err) : resolve()));
      });
      let written = 0;
      for await (const chunk of Buffer.isBuffer(f.body) ? [f.body] : f.body) {
        if (archive.destroyed) return; // the reader went away: stop reading the recording too
        written += chunk.length;
        if (written > f.size) throw new Error(`${f.name}: more than the ${f.size} bytes its header said`);
        if (!entry.write(chunk)) await drained(entry);
      }
      if (written !== f.size) throw new Error(`${f.name}: wrote ${written} bytes, header said ${f.size}`);
      entry.end(null);
      await done;
    }
    archive.finalize();
  })();
  feeding.catch((err: Error) => archive.destroy(err));
  try {
    for await (const chunk of archive) yield chunk as Buffer;
    await feeding;
  } finally {
    archive.destroy();
  }
}

export interface ReadTarOptions {
  /** Files handed to a consumer chunk by chunk as the archive streams, never held (the recording). */
  streamed?: Record<string, (chunks: AsyncIterable<Buffer>) => Promise<void>>;
  /** Every other file is kept in memory, up to this size each. */
  maxFileBytes?: number;
  /**
   * The only names the archive may hold. Anything else — another name, `./recording.cast`, a
   * directory, a symlink or hardlink (even under an expected name) — is refused: `tar xf`
   * would extract what the verifier never checked.
   */
  expected?: readonly string[];
}

/**
 * Reads the regular files of a tar archive as it streams. A name twice is refused: a reader that
 * kept the first and one that kept the last would check different files.
 */
export async function readTar(source: Uint8Array | AsyncIterable<Uint8Array>, options: ReadTarOptions = {}): Promise<Map<string, Buffer>> {
  const maxFileBytes = options.maxFileBytes ?? 256 * 1024 * 1024;
  const reader = extract();
  const feeding = (async () => {
    for await (const chunk of source instanceof Uint8Array ? [source] : source) {
      if (reader.destroyed) return;
      if (!reader.write(chunk)) await drained(reader);
    }
    reader.end(null);
  })();
  feeding.catch((err: Error) => reader.destroy(err));
  const files = new Map<string, Buffer>();
  const seen = new Set<string>();
  try {
    for await (const entry of reader) {
      const { name, type } = entry.header;
      if (options.expected) {
        if (type !== 'file') throw new Error(`the archive holds a ${type ?? 'special entry'} named ${JSON.stringify(name)}: a bundle holds regular files only`);
        if (!options.expected.includes(name)) throw new Error(`the archive holds ${JSON.stringify(name)}, which is not a bundle file (${options.expected.join(', ')})`);
      } else if (type !== 'file') {
        for await (const _ of entry); // skipped, but read through to reach the next header
        continue;
      }
      if (seen.has(name)) throw new Error(`the archive has ${name} twice`);
      seen.add(name);
      const consumer = options.streamed?.[name];
      if (consumer) {
        await consumer(entry as AsyncIterable<Buffer>);
        continue;
      }
      const parts: Buffer[] = [];
      let size = 0;
      for await (const chunk of entry) {
        size += (chunk as Buffer).length;
        if (size > maxFileBytes) throw new Error(`${name} is larger than ${maxFileBytes} bytes`);
        parts.push(chunk as Buffer);
      }
      files.set(name, Buffer.concat(parts));
    }
    await feeding;
  } finally {
    reader.destroy();
  }
  return files;
}
