// The page `sallyport admin login`'s link opens (login-link.ts): a command line asking for a
// login of its own, from which address and client.
import { renderLoginLink, type LinkLoginView } from './login-link.js';

interface CliLoginView extends LinkLoginView {
  clientName: string;
  scope: 'full' | 'admin';
}

export function renderCliLogin(app: HTMLElement, token: string, me: { user: { username: string } }): Promise<void> {
  return renderLoginLink<CliLoginView>(
    app,
    {
      title: 'Confirm a command-line login',
      prefix: 'cli-login',
      api: `/api/cli-logins/${token}`,
      rows: (l) => [
        ['From address', 'cli-login-address', l.clientAddress],
        ['The client says', 'cli-login-client', l.clientName],
        [
          'Asks to',
          'cli-login-scope',
          l.scope === 'full'
            ? 'do everything you may (open consoles, ask for and approve access, and the admin and audit commands)'
            : 'use the admin and audit commands only (sessions, terminate, revoke, the audit log)',
        ],
      ],
      confirmed: 'Go back to your terminal: it is logged in until this browser login would end.',
      expired: 'This link has expired. Run sallyport admin login again for a new one.',
      actsAs: 'The command line',
    },
    me,
  );
}
