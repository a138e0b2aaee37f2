// What an operator runs to make the broker a CA and lock nodes down: `sallyport ssh-ca new` and
// `sallyport node-config` in every format, checked by the real OpenSSH tools (ssh-keygen reads
// the key, `sshd -t` accepts the drop-in) and refusing bad arguments by name.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { NodeFile } from '../server/runtime/fleet/node-config.js';
import { runCli } from './support/process.js';

let caKey: string;
let caPub: string;
const dir = mkdtempSync(join(tmpdir(), 'sallyport-node-config-'));

beforeAll(async () => {
  const r = await runCli(['ssh-ca', 'new'], {});
  expect(r.code).toBe(0);
  caKey = r.stdout;
  caPub = r.stderr.trim().split('\n').at(-1)!;
});

describe('sallyport ssh-ca new', () => {
  it('prints an unencrypted OpenSSH private key that ssh-keygen reads, and its public key', () => {
    writeFileSync(join(dir, 'ca'), caKey, { mode: 0o600 });
    const derived = execFileSync('ssh-keygen', ['-y', '-f', join(dir, 'ca')], { encoding: 'utf8' }).trim();
    expect(caPub.startsWith(derived.split(' ').slice(0, 2).join(' '))).toBe(true);
    expect(caKey).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
  });
});

describe('sallyport node-config', () => {
  it('prints files sshd accepts (sshd -t) that trust only the CA, with no forwarding and no passwords', async () => {
    const sshDir = join(dir, 'etc-ssh');
    const r = await runCli(['node-config', '--broker-address', '10.0.0.1,10.0.0.2', '--login', 'deploy', '--ssh-dir', sshDir, '--format', 'json'], { SALLYPORT_SSH_CA_KEY: caKey });
    expect(r.code, r.stderr).toBe(0);
    const files = (JSON.parse(r.stdout) as { files: NodeFile[] }).files;
    const byName = Object.fromEntries(files.map((f) => [f.path.split('/').pop(), f.content]));
    expect(byName['sallyport_user_ca.pub']).toBe(`${caPub}\n`);
    expect(byName['deploy']).toBe('deploy\n');
    // 00-: read before cloud-init's 50-cloud-init.conf and an organisation's 10-*.conf (first value wins).
    const sshd = byName['00-sallyport.conf']!;
    for (const line of ['AuthorizedKeysCommand none', 'AuthorizedPrincipalsCommand none', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PermitRootLogin no', 'DisableForwarding yes', 'PermitTunnel no', 'AllowAgentForwarding no', 'X11Forwarding no', 'AuthorizedKeysFile none', 'AllowUsers deploy', `TrustedUserCAKeys ${sshDir}/sallyport_user_ca.pub`]) {
      expect(sshd).toContain(`${line}\n`);
    }
    // New TCP only from the broker, on every port: a Port sshd also listens on is guarded too.
    expect(byName['sallyport.nft']).toContain('ip saddr { 10.0.0.1/32, 10.0.0.2/32 } accept');
    expect(byName['sallyport.nft']).toContain('meta l4proto tcp ct state new counter drop');
    expect(byName['sallyport-lockdown-check']).toContain(`/usr/sbin/sshd -T -f '${sshDir}/sshd_config'`);
    for (const f of files.filter((f) => f.path.startsWith(sshDir))) {
      mkdirSync(dirname(f.path), { recursive: true });
      writeFileSync(f.path, f.content);
    }
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'hostkey')]);
    const main = join(sshDir, 'sshd_config');
    writeFileSync(main, `Include ${sshDir}/sshd_config.d/*.conf\nHostKey ${join(dir, 'hostkey')}\n`);
    // sshd -T prints the configuration it would run with: the drop-in's values won.
    const effective = execFileSync('/usr/sbin/sshd', ['-T', '-f', main], { encoding: 'utf8' });
    expect(effective).toMatch(/^passwordauthentication no$/m);
    expect(effective).toMatch(/^disableforwarding yes$/m);
    expect(effective).toMatch(/^permitrootlogin no$/m);
    expect(effective).toMatch(/^authorizedkeysfile none$/m);
    expect(effective).toMatch(/^authorizedkeyscommand none$/m);
    // The check node-config prints finds every sshd setting in effect; run as root here, it also
    // looks for the firewall, which this machine (not a node) has not loaded: that, and only that, fails.
    const check = spawnSync('sh', [join(sshDir, 'sallyport-lockdown-check')], { encoding: 'utf8' });
    expect(check.stdout.trim()).toBe('FAIL: the nftables table inet sallyport is not loaded');
    expect(check.status).toBe(1);
    // nft checks the ruleset without applying it.
    writeFileSync(join(dir, 'rules.nft'), byName['sallyport.nft']!);
    execFileSync('nft', ['-c', '-f', join(dir, 'rules.nft')]);
  });

  it('takes the CA public key from a file, without the private key', async () => {
    writeFileSync(join(dir, 'ca.pub'), `# the broker's CA\n${caPub}\n`);
    const r = await runCli(['node-config', '--broker-address', '192.0.2.7', '--ca-pub', join(dir, 'ca.pub')], {});
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`# ==> /etc/ssh/sallyport_user_ca.pub (0644)\n${caPub}\n`);
    expect(r.stdout).toContain('AllowUsers sallyport');
  });

  it('prints a Packer provisioner that writes every file, and Terraform rules for AWS and GCP', async () => {
    const env = { SALLYPORT_SSH_CA_KEY: caKey };
    const packer = await runCli(['node-config', '--broker-address', '10.0.0.1', '--format', 'packer'], env);
    expect(packer.code, packer.stderr).toBe(0);
    for (const path of ['/etc/ssh/sshd_config.d/00-sallyport.conf', '/etc/ssh/sallyport_user_ca.pub', '/etc/ssh/sallyport_principals/sallyport', '/etc/nftables.d/sallyport.nft']) {
      expect(packer.stdout).toContain(`cat > ${path} <<'SALLYPORT_EOF'`);
    }
    expect(packer.stdout).toContain('"sshd -t"');
    // HashiCorp's own parser accepts it (it once refused a `\*` escape), with a source of its own.
    const pk = mkdtempSync(join(tmpdir(), 'sallyport-packer-'));
    const withDocker = await runCli(['node-config', '--broker-address', '10.0.0.1', '--format', 'packer', '--docker'], env);
    expect(withDocker.stdout).toContain('"usermod -aG docker sallyport"');
    expect(packer.stdout).not.toContain('usermod -aG docker');
    writeFileSync(join(pk, 'build.pkr.hcl'), withDocker.stdout.replace('source.amazon-ebs.app', 'source.null.app'));
    writeFileSync(join(pk, 'source.pkr.hcl'), 'source "null" "app" {\n  communicator = "none"\n}\n');
    const validated = spawnSync('packer', ['validate', '.'], { cwd: pk, encoding: 'utf8' });
    expect(validated.status, `${validated.stdout}${validated.stderr}`).toBe(0);
    const tf = await runCli(['node-config', '--broker-address', '10.0.0.1,2001:db8::5', '--format', 'terraform'], {});
    expect(tf.code, tf.stderr).toBe(0);
    expect(tf.stdout).toContain('resource "aws_security_group_rule" "sallyport_ssh"');
    expect(tf.stdout).toContain('cidr_blocks       = ["10.0.0.1/32"]');
    expect(tf.stdout).toContain('ipv6_cidr_blocks  = ["2001:db8::5/128"]');
    expect(tf.stdout).toContain('source_ranges = ["10.0.0.1/32", "2001:db8::5/128"]');
    expect(tf.stdout).toContain('resource "google_compute_firewall" "sallyport_ssh_deny_others"');
  });

  it('names each bad argument, and never echoes the CA key', async () => {
    const none = await runCli(['node-config'], { SALLYPORT_SSH_CA_KEY: caKey });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('--broker-address is required');
    const bad = await runCli(['node-config', '--broker-address', '10.0.0.1/33,nope', '--port', '99999', '--format', 'yaml'], { SALLYPORT_SSH_CA_KEY: caKey });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--port: "99999" is not a port number');
    expect(bad.stderr).toContain('--format must be files, json, packer or terraform');
    const addr = await runCli(['node-config', '--broker-address', '10.0.0.1/33'], { SALLYPORT_SSH_CA_KEY: caKey });
    expect(addr.stderr).toContain('"10.0.0.1/33" is not an IPv4/IPv6 address or CIDR');
    const secret = caKey.split('\n')[2]!;
    const broken = await runCli(['node-config', '--broker-address', '10.0.0.1'], { SALLYPORT_SSH_CA_KEY: caKey.replace(secret, secret.split('').reverse().join('')) });
    expect(broken.code).not.toBe(0);
    expect(broken.stderr).toContain('SALLYPORT_SSH_CA_KEY');
    expect(broken.stderr).not.toContain(secret.slice(5, 30));
    const help = await runCli(['node-config', '--help'], {});
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--broker-address');
  });
});
