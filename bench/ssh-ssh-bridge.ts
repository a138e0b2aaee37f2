// A floor for the SSH door to a fleet node, in its own process: the least an SSH server → SSH
// console can do on this stack — the same ssh2 server (modern algorithms, TCP_NODELAY, a socket
// injected as the door does) accepting anyone, and the same certificate-authenticated ssh2
// connection to the node as the broker (connectNode), bytes copied both ways. No login link,
// policy, session, recording or database: what is left between it and the door is theirs.
//   tsx bench/ssh-ssh-bridge.ts <node as JSON>   (SALLYPORT_SSH_CA_KEY: the CA's private key)
//   prints the port it listens on (127.0.0.1), then serves until killed
import { createServer, type AddressInfo } from 'node:net';
import ssh2 from 'ssh2';
import { connectNode } from '../server/runtime/fleet/index.js';
import { SSH_ALGORITHMS } from '../server/ssh/index.js';
import { encodePrivateKeyFile, generateEd25519, parsePrivateKeyFile } from '../server/signing/index.js';
import type { NodeAddress } from '../server/runtime/index.js';

const node = JSON.parse(process.argv[2]!) as NodeAddress;
const ca = parsePrivateKeyFile(process.env.SALLYPORT_SSH_CA_KEY!).key;
const server = new ssh2.Server({ hostKeys: [encodePrivateKeyFile(generateEd25519(), 'bridge')], algorithms: SSH_ALGORITHMS as unknown as ssh2.Algorithms }, (client) => {
  client.on('authentication', (ctx) => ctx.accept());
  client.on('error', () => undefined);
  client.on('session', (accept) => {
    const session = accept();
    let size = { cols: 80, rows: 24 };
    session.on('pty', (ok, _no, info) => {
      size = { cols: info.cols, rows: info.rows };
      ok?.();
    });
    session.on('shell', (ok) => {
      const channel = ok();
      void connectNode(node, { ca, keyId: 'bench door bridge' }).then(
        (conn) =>
          conn.client.shell({ term: 'xterm-256color', cols: size.cols, rows: size.rows }, (err, ch) => {
            if (err) return channel.close();
            ch.pipe(channel);
            channel.pipe(ch);
            ch.on('close', () => {
              channel.exit(0);
              channel.end();
              conn.close();
            });
          }),
        () => channel.close(),
      );
    });
  });
});
const tcp = createServer({ noDelay: true }, (socket) => server.injectSocket(socket));
tcp.listen(0, '127.0.0.1', () => process.stdout.write(`${(tcp.address() as AddressInfo).port}\n`));
