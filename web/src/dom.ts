// Tiny DOM helpers: elements are built with properties and textContent only, never innerHTML,
// so nothing from the server is ever parsed as markup.
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
