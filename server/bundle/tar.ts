// A minimal ustar writer (streaming) and reader, enough for evidence bundles: regular files
// only, names under 100 bytes. Sizes come first in a tar header, so every file's size must be
// known before its bytes are streamed.

export interface TarFile {
  name: string;
  size: number;
  body: Buffer | AsyncIterable<Buffer>;
}

function header(name: string, size: number, mtime: number): Buffer {
  const h = Buffer.alloc(512);
  const put = (text: string, offset: number, length: number) => h.write(text.slice(0, length), offset, length, 'utf8');
  const octal = (n: number, length: number) => n.toString(8).padStart(length - 1, '0');
  put(name, 0, 100);
  put(`${octal(0o644, 8)}\0`, 100, 8);
  put(`${octal(0, 8)}\0`, 108, 8);
  put(`${octal(0, 8)}\0`, 116, 8);
  put(`${octal(size, 12)}\0`, 124, 12);
  put(`${octal(Math.floor(mtime / 1000), 12)}\0`, 136, 12);
  h.fill(' ', 148, 156); // checksum field counts as spaces while summing
  put('0', 156, 1);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const b of h) sum += b;
  put(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return h;
}

export async function* tarStream(files: TarFile[], mtime = Date.now()): AsyncGenerator<Buffer> {
  for (const f of files) {
    if (Buffer.byteLength(f.name) >= 100) throw new Error(`tar name too long: ${f.name}`);
    yield header(f.name, f.size, mtime);
    let written = 0;
    if (Buffer.isBuffer(f.body)) {
      yield f.body;
      written = f.body.length;
    } else {
      for await (const chunk of f.body) {
        written += chunk.length;
        yield chunk;
      }
    }
    if (written !== f.size) throw new Error(`${f.name}: wrote ${written} bytes, header said ${f.size}`);
    if (written % 512) yield Buffer.alloc(512 - (written % 512));
  }
  yield Buffer.alloc(1024);
}

/** Reads every regular file of a tar archive held in memory. */
export function readTar(archive: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (let at = 0; at + 512 <= archive.length; ) {
    const h = archive.subarray(at, at + 512);
    if (h.every((b) => b === 0)) break;
    const name = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(h.subarray(124, 136).toString('utf8').replace(/\0.*$/s, '').trim() || '0', 8);
    if (!Number.isFinite(size) || at + 512 + size > archive.length) throw new Error(`damaged archive at ${name || 'entry'}`);
    files.set(name, archive.subarray(at + 512, at + 512 + size));
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}
