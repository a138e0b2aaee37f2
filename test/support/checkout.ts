// A clean copy of this checkout (its tracked and new files, node_modules linked): what an
// operator or auditor has elsewhere, and where a build may write dist/ without touching the
// one the running suite serves.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PACKAGE_ROOT } from '../../server/paths.js';

export function copyCheckout(src: string): string {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: PACKAGE_ROOT }).toString().split('\0').filter(Boolean);
  for (const f of files) {
    mkdirSync(dirname(join(src, f)), { recursive: true });
    try {
      cpSync(join(PACKAGE_ROOT, f), join(src, f));
    } catch {
      // deleted in the work tree, still in the index
    }
  }
  symlinkSync(join(PACKAGE_ROOT, 'node_modules'), join(src, 'node_modules'));
  return src;
}
