// The page an SSH login link opens (login-link.ts): the console asking to start, from which
// address and SSH client.
import { renderLoginLink, type LinkLoginView } from './login-link.js';

interface SshLoginView extends LinkLoginView {
  target: string;
  clientVersion: string;
}

export function renderSshLogin(app: HTMLElement, token: string, me: { user: { username: string } }): Promise<void> {
  return renderLoginLink<SshLoginView>(
    app,
    {
      title: 'Confirm an SSH login',
      prefix: 'ssh-login',
      api: `/api/ssh-logins/${token}`,
      rows: (l) => [
        ['Console', 'ssh-login-target', l.target || 'none named: the list of targets you may open'],
        ['From address', 'ssh-login-address', l.clientAddress],
        ['The client says', 'ssh-login-client', l.clientVersion],
      ],
      confirmed: 'Go back to your terminal: the console is starting there.',
      expired: 'This link has expired. Connect with ssh again for a new one.',
      actsAs: 'The connection',
    },
    me,
  );
}
