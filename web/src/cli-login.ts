// The page `sallyport admin login`'s link opens (login-link.ts): a command line asking for a
// login of its own, from which address and client.
import { renderLoginLink, type LinkLoginView } from './login-link.js';

interface CliLoginView extends LinkLoginView {
  clientAddress: string;
  clientName: string;
}

export function renderCliLogin(app: HTMLElement, token: string, me: { user: { username: string } }): Promise<void> {
  return renderLoginLink<CliLoginView>(
    app,
    {
      title: 'Confirm a command-line login',
      prefix: 'cli-login',
      api: `/api/cli-logins/${token}`,
      rows: (l) => [['From', 'cli-login-client', `${l.clientAddress} (${l.clientName})`]],
      confirmed: 'Go back to your terminal: it is logged in until this browser login would end.',
      expired: 'This link has expired. Run sallyport admin login again for a new one.',
      actsAs: 'The command line',
    },
    me,
  );
}
