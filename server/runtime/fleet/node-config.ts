// What a fleet node needs to accept only the broker: an sshd drop-in that trusts the broker's
// user CA and nothing else (no passwords, no keys, no forwarding of any kind), the CA's public
// key, a principals file for the one login, and an nftables ruleset admitting SSH only from the
// broker's addresses. Printed by `sallyport node-config`, as files, as a Packer template (baked
// into a golden image, so a node is locked down from first boot) or as Terraform firewall rules.
import { isIP } from 'node:net';
import { SallyportError } from '../../errors.js';
import { lockdownScript } from './lockdown.js';

export interface NodeConfigOptions {
  /** Addresses or CIDRs the broker connects from. */
  brokerAddresses: readonly string[];
  /** The one account the broker logs in as (the catalogue's `login`). */
  login: string;
  /** The CA public key lines: the current one first, then those still valid during a rotation. */
  caPublicKeys: readonly string[];
  sshPort: number;
  /** Where sshd's own files live (default /etc/ssh). */
  sshDir: string;
  /** TCP ports the node serves to others (its application): open to anyone; every other new TCP connection is the broker's only. */
  openPorts?: readonly number[];
}

export interface NodeFile {
  path: string;
  mode: string;
  content: string;
}

const LOGIN_RE = /^[a-z_][a-z0-9_-]{0,31}$/;

/** `10.0.0.5` → `10.0.0.5/32`; a CIDR stays as it is; anything else names the bad entry. */
export function brokerCidrs(addresses: readonly string[]): { v4: string[]; v6: string[] } {
  const v4: string[] = [];
  const v6: string[] = [];
  if (addresses.length === 0) throw new SallyportError('BAD_REQUEST', '--broker-address: give at least one address');
  for (const a of addresses) {
    const [ip, prefix, extra] = a.split('/');
    const family = isIP(ip ?? '');
    const max = family === 6 ? 128 : 32;
    if (!family || extra !== undefined || (prefix !== undefined && !(/^\d{1,3}$/.test(prefix) && Number(prefix) <= max))) {
      throw new SallyportError('BAD_REQUEST', `--broker-address: "${a}" is not an IPv4/IPv6 address or CIDR`);
    }
    (family === 6 ? v6 : v4).push(prefix === undefined ? `${ip}/${max}` : a);
  }
  return { v4, v6 };
}

export function nodeConfigFiles(o: NodeConfigOptions): NodeFile[] {
  if (!LOGIN_RE.test(o.login)) throw new SallyportError('BAD_REQUEST', `--login: "${o.login}" is not a valid user name`);
  if (o.caPublicKeys.length === 0) throw new SallyportError('BAD_REQUEST', 'no SSH CA public key: set SALLYPORT_SSH_CA_KEY or give --ca-pub');
  const { v4, v6 } = brokerCidrs(o.brokerAddresses);
  const ca = `${o.sshDir}/sallyport_user_ca.pub`;
  const sshd = [
    '# Sallyport: this node accepts SSH only with the broker\'s short-lived user certificates.',
    '# Drop-ins are read before the main sshd_config, in name order, and sshd keeps the first value',
    '# it reads: "00-" sorts before cloud-init\'s 50-cloud-init.conf and an organisation\'s 10-*.conf.',
    '# Port is the exception (each Port adds one): the firewall admits only the broker, and the',
    '# broker\'s check (sallyport-lockdown-check, `sshd -T`) names any other port sshd listens on.',
    `Port ${o.sshPort}`,
    'PubkeyAuthentication yes',
    `TrustedUserCAKeys ${ca}`,
    `AuthorizedPrincipalsFile ${o.sshDir}/sallyport_principals/%u`,
    '# No key files: a plain key, however it got onto the node, is not accepted.',
    'AuthorizedKeysFile none',
    'AuthorizedKeysCommand none',
    'AuthorizedPrincipalsCommand none',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'HostbasedAuthentication no',
    'PermitRootLogin no',
    `AllowUsers ${o.login}`,
    '# No forwarding of any kind: the broker asks for a PTY and a command, nothing else.',
    'DisableForwarding yes',
    'AllowTcpForwarding no',
    'AllowStreamLocalForwarding no',
    'AllowAgentForwarding no',
    'X11Forwarding no',
    'PermitTunnel no',
    'PermitUserEnvironment no',
    'PermitUserRC no',
    'MaxAuthTries 2',
    'LoginGraceTime 20',
    '# A broker that vanishes (partition, crash) is noticed within 45 s.',
    'ClientAliveInterval 15',
    'ClientAliveCountMax 3',
    '',
  ].join('\n');
  const set = (xs: string[]) => `{ ${xs.join(', ')} }`;
  const open = [...new Set(o.openPorts ?? [])].filter((p) => p !== o.sshPort);
  const nft = [
    '#!/usr/sbin/nft -f',
    '# Sallyport: new TCP connections only from the broker — to the SSH port and to any other port',
    '# sshd might also listen on; replies to the node\'s own connections and loopback pass.',
    ...(open.length ? [`# Open to anyone (--open-port): ${open.join(', ')}.`] : []),
    'table inet sallyport',
    'delete table inet sallyport',
    'table inet sallyport {',
    '  chain input {',
    '    type filter hook input priority -10; policy accept;',
    '    iif "lo" accept',
    '    ct state established,related accept',
    ...(v4.length ? [`    ip saddr ${set(v4)} accept`] : []),
    ...(v6.length ? [`    ip6 saddr ${set(v6)} accept`] : []),
    ...(open.length ? [`    tcp dport ${set(open.map(String))} accept`] : []),
    '    meta l4proto tcp ct state new counter drop',
    '  }',
    '}',
    '',
  ].join('\n');
  return [
    { path: `${o.sshDir}/sshd_config.d/00-sallyport.conf`, mode: '0644', content: sshd },
    { path: ca, mode: '0644', content: o.caPublicKeys.map((k) => `${k}\n`).join('') },
    { path: `${o.sshDir}/sallyport_principals/${o.login}`, mode: '0644', content: `${o.login}\n` },
    { path: '/etc/nftables.d/sallyport.nft', mode: '0755', content: nft },
    { path: `${o.sshDir}/sallyport-lockdown-check`, mode: '0755', content: lockdownScript({ sshdConfig: `${o.sshDir}/sshd_config`, port: o.sshPort, login: o.login }) },
  ];
}

/** The files one after another, each under a `# ==> path (mode)` line. */
export function formatFiles(files: readonly NodeFile[]): string {
  return files.map((f) => `# ==> ${f.path} (${f.mode})\n${f.content}`).join('\n');
}

/**
 * An HCL string for any text: JSON's escapes are HCL's (\" \\ \n \uXXXX), and HCL's template
 * sequences (`${`, `%{`) are doubled so a shell's `${VAR}` stays text.
 */
function hclString(text: string): string {
  return JSON.stringify(text).replace(/\$\{/g, '$${').replace(/%\{/g, '%%{');
}

/**
 * A Packer template fragment that bakes the files into a golden image. `docker`: the login joins
 * the `docker` group, which Docker targets on the node need (and which is root on it).
 */
export function formatPacker(files: readonly NodeFile[], login: string, options: { docker?: boolean } = {}): string {
  const commands = [
    `id -u ${login} >/dev/null 2>&1 || useradd --create-home --shell /bin/sh ${login}`,
    `usermod -p '*' ${login}`,
    ...(options.docker ? [`usermod -aG docker ${login}`] : []),
    ...files.flatMap((f) => [
      `install -d -m 0755 ${f.path.replace(/\/[^/]*$/, '') || '/'}`,
      `cat > ${f.path} <<'SALLYPORT_EOF'\n${f.content}SALLYPORT_EOF`,
      `chmod ${f.mode} ${f.path}`,
    ]),
    `grep -q '^include "/etc/nftables.d/\\*.nft"' /etc/nftables.conf || echo 'include "/etc/nftables.d/*.nft"' >> /etc/nftables.conf`,
    'systemctl enable nftables',
    'rm -f /etc/ssh/sshd_config.d/sallyport.conf',
    'sshd -t',
  ];
  return [
    '# Packer (HCL2): add to your image build; every node from this image is locked down from first boot.',
    'build {',
    '  sources = ["source.amazon-ebs.app"] # your source',
    '  provisioner "shell" {',
    '    inline = [',
    ...commands.map((c) => `      ${hclString(c)},`),
    '    ]',
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Cloud firewall rules with the same restriction, for the platform's own enforcement. */
export function formatTerraform(o: Pick<NodeConfigOptions, 'brokerAddresses' | 'sshPort'>): string {
  const { v4, v6 } = brokerCidrs(o.brokerAddresses);
  const list = (xs: string[]) => `[${xs.map((x) => `"${x}"`).join(', ')}]`;
  return [
    '# Terraform: SSH to fleet nodes only from the Sallyport broker. Set the variables to your own.',
    'variable "fleet_security_group_id" { type = string }',
    'variable "gcp_network" { type = string }',
    '',
    'resource "aws_security_group_rule" "sallyport_ssh" {',
    '  type              = "ingress"',
    '  description       = "SSH from the Sallyport broker only"',
    `  from_port         = ${o.sshPort}`,
    `  to_port           = ${o.sshPort}`,
    '  protocol          = "tcp"',
    `  cidr_blocks       = ${list(v4)}`,
    ...(v6.length ? [`  ipv6_cidr_blocks  = ${list(v6)}`] : []),
    '  security_group_id = var.fleet_security_group_id',
    '}',
    '',
    'resource "google_compute_firewall" "sallyport_ssh" {',
    '  name          = "sallyport-ssh-from-broker"',
    '  network       = var.gcp_network',
    '  direction     = "INGRESS"',
    '  priority      = 900',
    `  source_ranges = ${list([...v4, ...v6])}`,
    '  target_tags   = ["sallyport-node"]',
    '  allow {',
    '    protocol = "tcp"',
    `    ports    = ["${o.sshPort}"]`,
    '  }',
    '}',
    '',
    '# Below the allow rule: SSH from anywhere else is denied, whatever other rules allow.',
    'resource "google_compute_firewall" "sallyport_ssh_deny_others" {',
    '  name          = "sallyport-ssh-deny-others"',
    '  network       = var.gcp_network',
    '  direction     = "INGRESS"',
    '  priority      = 901',
    '  source_ranges = ["0.0.0.0/0", "::/0"]',
    '  target_tags   = ["sallyport-node"]',
    '  deny {',
    '    protocol = "tcp"',
    `    ports    = ["${o.sshPort}"]`,
    '  }',
    '}',
    '',
    '# AWS security groups only allow: make sure no other rule on the fleet\'s group admits this port.',
    '',
  ].join('\n');
}
