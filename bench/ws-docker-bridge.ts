// A floor for the console benchmark, in its own process: the least a browser console to Docker
// can do — a ws server, the same hardened container over the Engine API as the broker
// (createDockerRuntime, create + attach + start), and bytes copied both ways as binary frames.
// No login, policy, session, recording or database: what is left between it and the broker is
// the broker's own. It announces each console as the broker does (a `started` message), so the
// load client (bench/load-client.ts) holds it like one of the broker's.
//   tsx bench/ws-docker-bridge.ts <port> <image> [cpus]   (cpus: the container's limit, default 1)
import { randomBytes } from 'node:crypto';
import { WebSocketServer } from 'ws';
import { encodeControl } from '../server/http/console-wire.js';
import { createDockerRuntime } from '../server/runtime/index.js';
import { benchConsoleSpec } from './support.js';

const [port, image, cpus] = process.argv.slice(2);
const runtime = createDockerRuntime({});
const label = `bench-bridge-${randomBytes(3).toString('hex')}`;
const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(port) });
wss.on('connection', (ws) => {
  const spec = benchConsoleSpec(image!);
  if (cpus) spec.container!.limits.cpus = Number(cpus);
  void runtime.start(spec, label).then(
    (c) => {
      ws.send(encodeControl({ type: 'started', sessionId: spec.sessionId }));
      c.output.on('data', (d: Buffer) => ws.send(d, { binary: true }));
      c.output.once('end', () => ws.close());
      // Binary frames are typed input; the JSON control messages (open, resize) are ignored.
      ws.on('message', (raw: Buffer, isBinary) => {
        if (isBinary) c.input.write(raw);
      });
      // A container the engine already removed is no failure of the floor's: nothing to report.
      ws.on('close', () => c.destroy().catch(() => undefined));
    },
    () => ws.close(),
  );
});
wss.on('listening', () => process.stdout.write('listening\n'));
