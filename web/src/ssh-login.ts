// The page an SSH login link opens: what is asking to start (target, client address, SSH
// client, code), and one button to confirm it. Confirming makes the waiting `ssh` connection
// continue as you, so the page says so plainly and asks you to compare the code first.
import { getJson, postJson } from './api.js';
import { el, link } from './dom.js';

interface SshLoginView {
  code: string;
  target: string;
  clientAddress: string;
  clientVersion: string;
  createdAt: string;
  expiresAt: string;
  state: 'waiting' | 'confirmed' | 'expired';
  confirmedBy: string | null;
}

export async function renderSshLogin(app: HTMLElement, token: string, me: { user: { username: string } }): Promise<void> {
  const problem = el('p', { className: 'error', id: 'ssh-login-error', role: 'alert' });
  const draw = (l: SshLoginView) => {
    const confirm = el('button', {
      id: 'confirm-ssh-login',
      textContent: `Confirm: continue as ${me.user.username}`,
      onclick: () => {
        confirm.disabled = true;
        void postJson<SshLoginView>(`/api/ssh-logins/${token}/confirm`, {})
          .then(draw)
          .catch((err: Error) => {
            problem.textContent = err.message;
            confirm.disabled = false;
          });
      },
    });
    const state =
      l.state === 'confirmed'
        ? el('p', { id: 'ssh-login-state', className: 'state state-approved', textContent: `Confirmed by ${l.confirmedBy ?? 'someone'}. Go back to your terminal: the console is starting there.` })
        : l.state === 'expired'
          ? el('p', { id: 'ssh-login-state', className: 'state state-expired', textContent: 'This link has expired. Connect with ssh again for a new one.' })
          : el('p', { id: 'ssh-login-state', className: 'state state-pending', textContent: `Waiting for confirmation until ${new Date(l.expiresAt).toLocaleTimeString()}.` });
    app.replaceChildren(
      el('h1', { textContent: 'Confirm an SSH login' }),
      state,
      el(
        'dl',
        {},
        el('dt', { textContent: 'Code' }),
        el('dd', { id: 'ssh-login-code', className: 'code', textContent: l.code }),
        el('dt', { textContent: 'Console' }),
        el('dd', { id: 'ssh-login-target', textContent: l.target || 'none named: the list of targets you may open' }),
        el('dt', { textContent: 'From' }),
        el('dd', { id: 'ssh-login-client', textContent: `${l.clientAddress} (${l.clientVersion})` }),
        el('dt', { textContent: 'Asked at' }),
        el('dd', { textContent: new Date(l.createdAt).toLocaleString() }),
      ),
      l.state === 'waiting'
        ? el(
            'p',
            { className: 'warning' },
            'Only confirm if you started this yourself and your terminal shows the same code. ',
            `The connection will act as you (${me.user.username}), with your access.`,
          )
        : '',
      l.state === 'waiting' ? el('div', { className: 'controls' }, confirm) : link('/', 'Home'),
      problem,
    );
  };
  draw(await getJson<SshLoginView>(`/api/ssh-logins/${token}`));
}
