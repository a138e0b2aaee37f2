// Asking before something that cannot be undone (terminate a console, hand back a grant): a
// modal <dialog> that names what will happen and, when the action needs one, asks for a reason
// (required) that the affected user will read. Resolves to the reason ('' when none is asked),
// or null when cancelled.
import { el } from './dom.js';

function confirmAction(o: { id: string; title: string; message: string; confirm: string; reason?: { label: string; placeholder: string } }): Promise<string | null> {
  document.getElementById(o.id)?.remove();
  const reason = o.reason ? el('textarea', { id: `${o.id}-reason`, ariaRequired: 'true', maxLength: 500, rows: 2, placeholder: o.reason.placeholder }) : null;
  const problem = el('p', { className: 'error', role: 'alert' });
  const ok = el('button', { type: 'submit', className: 'danger', id: `${o.id}-confirm`, textContent: o.confirm });
  const cancel = el('button', { type: 'button', id: `${o.id}-cancel`, textContent: 'Cancel' });
  // Checked here rather than by `required`, so the dialog says why in words a screen reader reads.
  const form = el(
    'form',
    { method: 'dialog', className: 'stacked', noValidate: true },
    el('h2', { textContent: o.title }),
    el('p', { textContent: o.message }),
    reason ? el('label', {}, o.reason!.label, reason) : '',
    problem,
    el('div', { className: 'controls' }, ok, cancel),
  );
  const dialog = el('dialog', { id: o.id, className: 'confirm' }, form);
  dialog.setAttribute('aria-labelledby', `${o.id}-title`);
  form.querySelector('h2')!.id = `${o.id}-title`;
  document.body.append(dialog);
  return new Promise((resolve) => {
    let answer: string | null = null;
    form.addEventListener('submit', (ev) => {
      const text = reason?.value.trim() ?? '';
      if (reason && !text) {
        ev.preventDefault();
        problem.textContent = 'Give a reason: the user reads it.';
        reason.focus();
        return;
      }
      answer = text;
    });
    cancel.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(answer);
    });
    dialog.showModal();
    (reason ?? ok).focus();
  });
}

/**
 * A button for an action that cannot be undone ("Terminate alice's console on billing"): it asks
 * first, in a dialog titled with the same words, then acts with the reason given. `act` says
 * itself what the broker answered.
 */
export function confirmButton(
  b: { text: string; what: string; className: string; id?: string },
  ask: { dialogId: string; message: string; reason?: { label: string; placeholder: string } },
  act: (reason: string) => Promise<void>,
): HTMLButtonElement {
  const button = el('button', {
    className: b.className,
    textContent: b.text,
    ariaLabel: `${b.text} ${b.what}`,
    onclick: () =>
      void confirmAction({ id: ask.dialogId, title: `${b.text} ${b.what}?`, message: ask.message, confirm: b.text, reason: ask.reason }).then((reason) =>
        reason === null ? undefined : act(reason),
      ),
  });
  if (b.id) button.id = b.id;
  return button;
}
