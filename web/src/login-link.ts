// The page a login link opens (a stock `ssh` client's, or `sallyport admin login`'s): what is
// asking to log in, from where, with the code, and one button to confirm it. Confirming makes the
// waiting client continue as you, so the page says so plainly and asks you to compare the code.
import { getJson, postJson } from './api.js';
import { el, link } from './dom.js';
import { timeEl, when } from './format.js';

export interface LinkLoginView {
  code: string;
  /** The address the broker saw the client connect from. */
  clientAddress: string;
  /** This browser's address as the broker sees it: a different one is worth a second look. */
  yourAddress?: string;
  createdAt: string;
  expiresAt: string;
  state: 'waiting' | 'confirmed' | 'expired';
  confirmedBy: string | null;
}

export interface LoginLinkPage<V extends LinkLoginView> {
  title: string;
  /** Element id prefix: `${prefix}-state`, `${prefix}-code`, `confirm-${prefix}`, `${prefix}-error`. */
  prefix: string;
  api: string;
  /**
   * What is asking, beside the code: [label, element id, text]. What the client says about
   * itself (its name, its version) is labelled as its own words: anyone can say "dave-laptop".
   */
  rows(view: V): Array<[string, string, string]>;
  confirmed: string;
  expired: string;
  /** Who the client will act as, in the warning. */
  actsAs: string;
}

export async function renderLoginLink<V extends LinkLoginView>(app: HTMLElement, page: LoginLinkPage<V>, me: { user: { username: string } }): Promise<void> {
  const problem = el('p', { className: 'error', id: `${page.prefix}-error`, role: 'alert' });
  const draw = (l: V) => {
    const confirm = el('button', {
      id: `confirm-${page.prefix}`,
      textContent: `Confirm: continue as ${me.user.username}`,
      onclick: () => {
        confirm.disabled = true;
        void postJson<V>(`${page.api}/confirm`, {})
          .then(draw)
          .catch((err: Error) => {
            problem.textContent = err.message;
            confirm.disabled = false;
          });
      },
    });
    const stateId = `${page.prefix}-state`;
    const state =
      l.state === 'confirmed'
        ? el('p', { id: stateId, className: 'state state-approved', textContent: `Confirmed by ${l.confirmedBy ?? 'someone'}. ${page.confirmed}` })
        : l.state === 'expired'
          ? el('p', { id: stateId, className: 'state state-expired', textContent: page.expired })
          : el('p', { id: stateId, className: 'state state-pending', textContent: `Waiting for confirmation until ${when(l.expiresAt)}.` });
    app.replaceChildren(
      el('h1', { textContent: page.title }),
      state,
      el(
        'dl',
        {},
        el('dt', { textContent: 'Code' }),
        el('dd', { id: `${page.prefix}-code`, className: 'code', textContent: l.code }),
        ...page.rows(l).flatMap(([label, id, text]) => [el('dt', { textContent: label }), el('dd', { id, textContent: text })]),
        el('dt', { textContent: 'Asked at' }),
        el('dd', {}, timeEl(l.createdAt)),
      ),
      l.state === 'waiting' && l.yourAddress && l.yourAddress !== l.clientAddress
        ? el(
            'p',
            { className: 'warning', id: `${page.prefix}-address-warning`, role: 'alert' },
            `This request comes from ${l.clientAddress}, not from the address of this browser (${l.yourAddress}). `,
            'Someone may have sent you their link to get in as you. Confirm only if you started it on another machine of yours.',
          )
        : '',
      l.state === 'waiting'
        ? el('p', { className: 'warning' }, 'Only confirm if you started this yourself and your terminal shows the same code. ', `${page.actsAs} will act as you (${me.user.username}), with your access.`)
        : '',
      l.state === 'waiting' ? el('div', { className: 'controls' }, confirm) : link('/', 'Home'),
      problem,
    );
  };
  draw(await getJson<V>(page.api));
}
