// Whether a fleet node's sshd really runs with the lockdown `sallyport node-config` prints: the
// settings in effect (`sshd -T`, which resolves every drop-in and the main file the way sshd
// does, first value wins) checked line by line. A drop-in named to sort before ours
// (`10-org.conf`), cloud-init's `50-cloud-init.conf` over an old `sallyport.conf`, a Port added
// elsewhere: each shows here as the line that does not hold. The same rules make the script
// node-config prints for operators and the check the broker runs on every node it reaches.
import type { NodeConnection } from './connect.js';

export interface LockdownExpectation {
  /** The node's main sshd_config (the drop-ins are beside it, in sshd_config.d). */
  sshdConfig: string;
  port: number;
  login: string;
}

export interface LockdownVerdict {
  ok: boolean;
  /** The `sshd -T` lines that must hold and do not, in words; empty when ok. */
  problems: string[];
  checkedAt: string;
}

const sshDirOf = (config: string) => config.replace(/\/[^/]+$/, '') || '/';

/** Each line `sshd -T` must print (lowercase keywords, as it prints them). */
export function requiredLines(e: LockdownExpectation): string[] {
  const dir = sshDirOf(e.sshdConfig);
  return [
    'pubkeyauthentication yes',
    'passwordauthentication no',
    'kbdinteractiveauthentication no',
    'hostbasedauthentication no',
    'authorizedkeysfile none',
    'authorizedkeyscommand none',
    'authorizedprincipalscommand none',
    `trustedusercakeys ${dir}/sallyport_user_ca.pub`,
    `authorizedprincipalsfile ${dir}/sallyport_principals/%u`,
    'permitrootlogin no',
    `allowusers ${e.login}`,
    'disableforwarding yes',
    'allowtcpforwarding no',
    'allowagentforwarding no',
    'x11forwarding no',
    'permittunnel no',
    'permituserenvironment no',
  ];
}

/** Judges `sshd -T` output: every required line present, and sshd listening on the node's port only. */
export function judgeLockdown(sshdT: string, e: LockdownExpectation, at = new Date()): LockdownVerdict {
  // Keywords compare without case (sshd prints them lowercase); values (paths) exactly.
  const lines = new Set(
    sshdT.split('\n').map((l) => {
      const t = l.trim();
      const sp = t.indexOf(' ');
      return sp < 0 ? t.toLowerCase() : `${t.slice(0, sp).toLowerCase()}${t.slice(sp)}`;
    }),
  );
  const problems = requiredLines(e)
    .filter((l) => !lines.has(l))
    .map((l) => `sshd does not run with "${l}"`);
  const ports = [...lines].filter((l) => /^port \d+$/.test(l)).map((l) => Number(l.slice(5)));
  for (const p of ports.filter((p) => p !== e.port)) problems.push(`sshd also listens on port ${p}, which only the firewall guards`);
  if (!ports.includes(e.port)) problems.push(`sshd does not listen on port ${e.port}`);
  if (lines.size < 10) problems.push(`sshd -T printed no configuration: ${sshdT.trim().slice(0, 200) || 'nothing'}`);
  return { ok: problems.length === 0, problems, checkedAt: at.toISOString() };
}

/**
 * The command that prints the settings in effect without root: sshd -T needs a host key it can
 * read, so it is given a throwaway one (-h) instead of the node's own.
 */
export function sshdTCommand(sshdConfig: string): string {
  const q = `'${sshdConfig.replace(/'/g, `'\\''`)}'`;
  return `k=$(mktemp -d) && ssh-keygen -q -t ed25519 -N '' -f "$k/k" >/dev/null && /usr/sbin/sshd -T -f ${q} -h "$k/k" 2>&1; rc=$?; rm -rf "$k"; exit $rc`;
}

/** A script for the node itself: prints each line that does not hold, or OK (exit 0). */
export function lockdownScript(e: LockdownExpectation): string {
  return [
    '#!/bin/sh',
    '# Sallyport: checks that sshd runs with the lockdown (the settings in effect, every drop-in',
    '# resolved). Prints each setting that does not hold and exits 1, or prints OK. The broker runs',
    '# the same check on every node it reaches (Fleet page, sallyport_node_lockdown in /metrics).',
    `t=$(${sshdTCommand(e.sshdConfig).replace(/; exit \$rc$/, '')})`,
    'fail=0',
    ...requiredLines(e).map((l) => `printf '%s\\n' "$t" | grep -qx '${l}' || { echo 'FAIL: sshd does not run with "${l}"'; fail=1; }`),
    `printf '%s\\n' "$t" | grep -E '^port [0-9]+$' | grep -vx 'port ${e.port}' | while read -r _ p; do echo "FAIL: sshd also listens on port $p"; done | grep . && fail=1`,
    '# The firewall (needs root to read): the broker-only table must be loaded.',
    'if [ "$(id -u)" = 0 ]; then nft list table inet sallyport >/dev/null 2>&1 || { echo "FAIL: the nftables table inet sallyport is not loaded"; fail=1; }; fi',
    '[ "$fail" = 0 ] && echo OK',
    'exit "$fail"',
    '',
  ].join('\n');
}

/** Runs the check over an open connection to the node (the broker's own login). */
export function checkNodeLockdown(conn: NodeConnection, e: LockdownExpectation, timeoutMs = 15_000): Promise<LockdownVerdict> {
  return new Promise((resolve) => {
    let out = '';
    const done = (v: LockdownVerdict) => {
      clearTimeout(timer);
      resolve(v);
    };
    const timer = setTimeout(() => done({ ok: false, problems: [`sshd -T did not answer within ${timeoutMs / 1000} s`], checkedAt: new Date().toISOString() }), timeoutMs);
    conn.client.exec(sshdTCommand(e.sshdConfig), (err, ch) => {
      if (err) return done({ ok: false, problems: [`cannot run sshd -T on the node: ${err.message}`], checkedAt: new Date().toISOString() });
      ch.on('data', (d: Buffer) => {
        if (out.length < 256 * 1024) out += d.toString('utf8');
      });
      ch.stderr.on('data', (d: Buffer) => {
        if (out.length < 256 * 1024) out += d.toString('utf8');
      });
      ch.on('close', () => done(judgeLockdown(out, e)));
    });
  });
}
