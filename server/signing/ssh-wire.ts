// The SSH wire encoding (RFC 4251 §5) for the few structures the CA writes and reads: keys,
// certificates and the openssh-key-v1 private key file. Strings are length-prefixed bytes.
import { SallyportError } from '../errors.js';

export function sshString(value: Buffer | string): Buffer {
  const data = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  return Buffer.concat([len, data]);
}

export function sshUint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

export function sshUint64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
}

/** Reads fields in order from one buffer; any overrun is a malformed structure. */
export class SshReader {
  private pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}

  string(): Buffer {
    const n = this.uint32();
    return this.take(n);
  }

  text(): string {
    return this.string().toString('utf8');
  }

  uint32(): number {
    return this.take(4).readUInt32BE();
  }

  uint64(): bigint {
    return this.take(8).readBigUInt64BE();
  }

  take(n: number): Buffer {
    if (this.pos + n > this.buf.length) throw new SallyportError('BAD_REQUEST', `${this.what} is malformed (truncated)`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  get done(): boolean {
    return this.pos === this.buf.length;
  }

  /** What has been read so far (a certificate's signed part). */
  consumed(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}
