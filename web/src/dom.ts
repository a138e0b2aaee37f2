// Tiny DOM helpers: elements are built with properties and textContent only, never innerHTML,
// so nothing from the server is ever parsed as markup.
import morphdomModule from 'morphdom';

// morphdom's types declare an ES default export in a CommonJS package: under NodeNext TypeScript
// reads the default import as the whole module, while the bundler (its "module" build) gives the
// function itself.
const morphdom = morphdomModule as unknown as typeof morphdomModule.default;

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  // Typed as the plain element: the intersection Object.assign infers is too complex for <select>.
  const node: HTMLElementTagNameMap[K] = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

export function link(href: string, text: string, props: Partial<HTMLAnchorElement> = {}): HTMLAnchorElement {
  return el('a', { href, textContent: text, ...props });
}

const HANDLERS = ['onclick', 'onchange', 'oninput', 'onsubmit', 'onkeydown'] as const;

/**
 * Makes `container`'s children look like `children` by changing only what differs (morphdom),
 * for pages that refresh while someone reads them: the element with keyboard focus, a field
 * being typed in and everything unchanged stay the same nodes, so focus is kept and a screen
 * reader is not handed the whole page again. Rows are matched by id or data-key.
 */
export function patch(container: HTMLElement, ...children: (Node | string)[]): void {
  const next = container.cloneNode(false) as HTMLElement;
  next.append(...children);
  const focused = document.activeElement instanceof HTMLElement && container.contains(document.activeElement) ? document.activeElement : null;
  morphdom(container, next, {
    childrenOnly: true,
    getNodeKey: (node) => (node instanceof HTMLElement ? node.id || node.dataset.key || undefined : undefined),
    onBeforeElUpdated(from, to) {
      // Handlers are properties, not attributes: the new render's closures see the new data.
      for (const h of HANDLERS) (from as unknown as Record<string, unknown>)[h] = (to as unknown as Record<string, unknown>)[h];
      // What the user typed or chose stays: a refresh never rewrites a form field.
      if (from instanceof HTMLInputElement || from instanceof HTMLTextAreaElement || from instanceof HTMLSelectElement) return false;
      // An open dialog stays as the user has it.
      if (from instanceof HTMLDialogElement && from.open) return false;
      return true;
    },
  });
  // morphdom keeps a kept row's node but may move it (a row inserted above it), and moving a
  // node blurs it: give focus back to the same node.
  if (focused?.isConnected && document.activeElement !== focused) focused.focus({ preventScroll: true });
}
