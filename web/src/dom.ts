// Tiny DOM helpers: elements are built with properties and textContent only, never innerHTML,
// so nothing from the server is ever parsed as markup.
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: (Node | string)[]) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

export function link(href: string, text: string, props: Partial<HTMLAnchorElement> = {}): HTMLAnchorElement {
  return el('a', { href, textContent: text, ...props });
}
