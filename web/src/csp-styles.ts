// xterm.js writes its dynamic styles into <style> elements, which our CSP (style-src 'self',
// no 'unsafe-inline') refuses. Style elements created by our own bundle get their text applied
// through a constructable stylesheet instead; markup injected by anyone else still cannot style
// the page. Import this before creating a terminal.
const createElement = Document.prototype.createElement;

Document.prototype.createElement = function (this: Document, tagName: string, options?: ElementCreationOptions) {
  if (tagName.toLowerCase() !== 'style') return createElement.call(this, tagName, options);
  // An inert <template> stands in for the <style>: even an empty inline <style> is a CSP
  // violation, and the text goes to the constructable sheet anyway.
  const el = createElement.call(this, 'template', options);
  const sheet = new CSSStyleSheet();
  this.adoptedStyleSheets = [...this.adoptedStyleSheets, sheet];
  let text = '';
  Object.defineProperty(el, 'textContent', {
    get: () => text,
    set: (value: string | null) => {
      text = value ?? '';
      sheet.replaceSync(text);
    },
  });
  return el;
} as typeof Document.prototype.createElement;

export {};
