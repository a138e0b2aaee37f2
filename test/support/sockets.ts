// The TCP sockets a process holds, and their TCP_NODELAY as the kernel has it: getsockopt on
// the very descriptor, borrowed with pidfd_getfd(2) by a small Python helper (root, or the
// process itself). Node has no getsockopt of its own, and a socket's JavaScript state says what
// was asked for, not what the kernel does.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TcpSocket {
  fd: number;
  local: { address: string; port: number };
  remote: { address: string; port: number };
}

/** /proc/net/tcp's "0100007F:1F90" as 127.0.0.1 and 8080. */
function endpoint(hex: string): { address: string; port: number } {
  const [a, p] = hex.split(':') as [string, string];
  const bytes = a.match(/../g)!.map((h) => parseInt(h, 16)).reverse();
  return { address: bytes.join('.'), port: parseInt(p, 16) };
}

/** Every established IPv4 TCP socket `pid` holds, with its descriptor. */
export function tcpSocketsOf(pid: number): TcpSocket[] {
  const byInode = new Map<string, Omit<TcpSocket, 'fd'>>();
  for (const line of readFileSync(`/proc/${pid}/net/tcp`, 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // State 01 is ESTABLISHED.
    if (f.length > 9 && f[3] === '01') byInode.set(f[9]!, { local: endpoint(f[1]!), remote: endpoint(f[2]!) });
  }
  const out: TcpSocket[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let link: string;
    try {
      link = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
    const s = inode ? byInode.get(inode) : undefined;
    if (s) out.push({ fd: Number(fd), ...s });
  }
  return out;
}

const HELPER = `
import ctypes, json, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
SYS_pidfd_open, SYS_pidfd_getfd = 434, 438
pid = int(sys.argv[1])
pidfd = libc.syscall(SYS_pidfd_open, pid, 0)
if pidfd < 0: sys.exit('pidfd_open: ' + os.strerror(ctypes.get_errno()))
out = {}
for fd in map(int, sys.argv[2:]):
    mine = libc.syscall(SYS_pidfd_getfd, pidfd, fd, 0)
    if mine < 0: sys.exit('pidfd_getfd %d: %s' % (fd, os.strerror(ctypes.get_errno())))
    s = socket.socket(fileno=mine)
    out[fd] = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    s.close()
print(json.dumps(out))
`;

/** TCP_NODELAY (1 on, 0 off) of each of `fds` in process `pid`, read from the kernel. */
export async function noDelayOf(pid: number, fds: number[]): Promise<Map<number, number>> {
  const { stdout } = await run('python3', ['-c', HELPER, String(pid), ...fds.map(String)], { timeout: 20_000 });
  return new Map(Object.entries(JSON.parse(stdout) as Record<string, number>).map(([fd, v]) => [Number(fd), v]));
}
