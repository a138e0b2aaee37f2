// `sallyport ssh-ca new` and `sallyport node-config`: what an operator needs to make the broker
// an SSH certificate authority and to lock fleet nodes down to it.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadSshCaPublicKeys } from './config/index.js';
import { SallyportError } from './errors.js';
import { formatFiles, formatPacker, formatTerraform, nodeConfigFiles } from './runtime/fleet/node-config.js';
import { ed25519FromLine, encodePrivateKeyFile, generateEd25519, publicKeyLine } from './signing/index.js';

export const SSH_CA_USAGE = `  ssh-ca new            print a new SSH user-CA private key for SALLYPORT_SSH_CA_KEY (public key on stderr)
`;
export const NODE_CONFIG_USAGE = `  node-config           print what a fleet node needs to accept only the broker:
                        --broker-address ADDR[,ADDR] (required), --login NAME (default sallyport),
                        --ca-pub FILE|URL (default: SALLYPORT_SSH_CA_KEY*), --port N (22),
                        --ssh-dir DIR (/etc/ssh), --format files|json|packer|terraform,
                        --open-port N[,N] (ports the node serves to anyone; every other new
                        TCP connection is admitted from the broker only),
                        --docker (packer: the login joins the docker group, for docker targets)
                        Then, on the node: DIR/sallyport-lockdown-check prints OK or what fails
`;

export function sshCaCommand(args: string[]): number {
  if (args.length !== 1 || args[0] !== 'new') {
    process.stderr.write(`usage: sallyport ssh-ca new > ssh-ca.key\n`);
    return 2;
  }
  const key = generateEd25519();
  process.stdout.write(encodePrivateKeyFile(key, 'sallyport-user-ca'));
  process.stderr.write(`public key (what nodes trust; also at /.well-known/sallyport/ssh-ca.pub):\n${publicKeyLine(key.publicKey, 'sallyport-user-ca')}\n`);
  return 0;
}

async function caPublicKeys(source: string | undefined): Promise<readonly string[]> {
  if (source === undefined) return loadSshCaPublicKeys(process.env);
  let text: string;
  if (/^https?:\/\//.test(source)) {
    const res = await fetch(source, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new SallyportError('BAD_REQUEST', `--ca-pub: ${source} answered ${res.status}`);
    text = await res.text();
  } else {
    try {
      text = readFileSync(source, 'utf8');
    } catch (err) {
      throw new SallyportError('BAD_REQUEST', `--ca-pub: cannot read ${source}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  return lines.map((line, i) => {
    try {
      return publicKeyLine(ed25519FromLine(line), 'sallyport-user-ca');
    } catch (err) {
      throw new SallyportError('BAD_REQUEST', `--ca-pub: line ${i + 1}: ${(err as Error).message}`);
    }
  });
}

export async function nodeConfigCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        'broker-address': { type: 'string', multiple: true },
        login: { type: 'string', default: 'sallyport' },
        'ca-pub': { type: 'string' },
        port: { type: 'string', default: '22' },
        'ssh-dir': { type: 'string', default: '/etc/ssh' },
        format: { type: 'string', default: 'files' },
        'open-port': { type: 'string', multiple: true },
        docker: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    });
  } catch (err) {
    process.stderr.write(`sallyport node-config: ${(err as Error).message}\n${NODE_CONFIG_USAGE}`);
    return 2;
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(`usage: sallyport node-config --broker-address ADDR[,ADDR] [options]\n${NODE_CONFIG_USAGE}`);
    return 0;
  }
  const brokerAddresses = (v['broker-address'] ?? []).flatMap((a) => a.split(',')).map((a) => a.trim()).filter(Boolean);
  const port = Number(v.port);
  const problems: string[] = [];
  if (brokerAddresses.length === 0) problems.push('--broker-address is required (the addresses the broker connects from)');
  if (!/^\d{1,5}$/.test(v.port!) || port < 1 || port > 65535) problems.push(`--port: "${v.port}" is not a port number`);
  if (!v['ssh-dir']!.startsWith('/')) problems.push('--ssh-dir must be an absolute path');
  const openPorts = (v['open-port'] ?? []).flatMap((a) => a.split(',')).map((a) => a.trim()).filter(Boolean);
  for (const p of openPorts) if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) problems.push(`--open-port: "${p}" is not a port number`);
  if (!['files', 'json', 'packer', 'terraform'].includes(v.format!)) problems.push(`--format must be files, json, packer or terraform, got "${v.format}"`);
  if (problems.length) {
    process.stderr.write(problems.map((p) => `sallyport node-config: ${p}\n`).join(''));
    return 2;
  }
  if (v.format === 'terraform') {
    process.stdout.write(formatTerraform({ brokerAddresses, sshPort: port }));
    return 0;
  }
  const files = nodeConfigFiles({ brokerAddresses, login: v.login!, caPublicKeys: await caPublicKeys(v['ca-pub']), sshPort: port, sshDir: v['ssh-dir']!, openPorts: openPorts.map(Number) });
  if (v.format === 'json') process.stdout.write(`${JSON.stringify({ files }, null, 2)}\n`);
  else if (v.format === 'packer') process.stdout.write(formatPacker(files, v.login!, { docker: v.docker }));
  else process.stdout.write(formatFiles(files));
  return 0;
}
