// A floor for the fleet benchmark, in its own process: the least a WebSocket → SSH console can
// do — the same ws server and the same certificate-authenticated ssh2 connection to the node as
// the broker (connectNode), a PTY shell, and bytes copied both ways as binary frames. No login,
// policy, session, recording or database: what is left between it and the broker is theirs.
//   tsx bench/ws-ssh-bridge.ts <port> <node as JSON>   (SALLYPORT_SSH_CA_KEY: the CA's private key)
import { WebSocketServer } from 'ws';
import { connectNode } from '../server/runtime/fleet/index.js';
import { parsePrivateKeyFile } from '../server/signing/index.js';
import type { NodeAddress } from '../server/runtime/index.js';

const [port, nodeJson] = process.argv.slice(2);
const node = JSON.parse(nodeJson!) as NodeAddress;
const ca = parsePrivateKeyFile(process.env.SALLYPORT_SSH_CA_KEY!).key;
const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(port) });
wss.on('connection', (ws) => {
  void connectNode(node, { ca, keyId: 'bench bridge' }).then(
    (conn) => {
      conn.client.shell({ term: 'xterm-256color', cols: 80, rows: 24 }, (err, ch) => {
        if (err) return ws.close();
        ch.on('data', (d: Buffer) => ws.send(d, { binary: true }));
        ch.on('close', () => ws.close());
        // Binary frames are typed input; the JSON control messages (open, resize) are ignored.
        ws.on('message', (raw: Buffer, isBinary) => {
          if (isBinary) ch.write(raw);
        });
        ws.on('close', () => conn.close());
      });
    },
    () => ws.close(),
  );
});
wss.on('listening', () => process.stdout.write('listening\n'));
