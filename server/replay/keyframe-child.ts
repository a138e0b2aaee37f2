// The keyframe builder's own process (see keyframe-process.ts): builds one recording's
// keyframes at a time from the chunks its parent sends, and sends each keyframe back. It pulls:
// it asks for the next chunk only when it has written the last one to its headless terminal,
// so at most one chunk waits in between. It exits with its parent.
import { buildKeyframes } from '../recording/keyframes.js';
import type { FromBuilder, ToBuilder } from './keyframe-process.js';

const send = (m: FromBuilder) => process.send!(m);
let next: ((m: ToBuilder) => void) | undefined;
process.on('message', (m: ToBuilder) => next?.(m));
process.on('disconnect', () => process.exit(0));

const receive = () => new Promise<ToBuilder>((resolve) => (next = resolve));

async function* chunks(): AsyncGenerator<{ seq: number; data: Uint8Array; t_end: number | null }> {
  for (;;) {
    const pending = receive();
    send({ type: 'next' });
    const m = await pending;
    if (m.type !== 'chunk') return;
    yield { seq: m.seq, data: m.data, t_end: m.t_end };
  }
}

async function main(): Promise<void> {
  for (;;) {
    const pending = receive();
    send({ type: 'ready' });
    const m = await pending;
    if (m.type !== 'build') continue;
    try {
      for await (const keyframe of buildKeyframes(m.header, chunks(), { everyBytes: m.everyBytes })) send({ type: 'keyframe', keyframe });
      send({ type: 'done' });
    } catch (err) {
      send({ type: 'failed', message: (err as Error).message });
    }
  }
}

void main();
