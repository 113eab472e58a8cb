// xterm.js puts its computed rules (cell size, theme colours, scrollbar) in <style> elements it
// creates. The page's Content-Security-Policy (`style-src 'self'`, no 'unsafe-inline') blocks
// every inline <style>, so those rules would never apply. Constructed style sheets (CSSOM) are not
// inline styles: this hands xterm, for each <style> it creates, an element that carries its text
// into a CSSStyleSheet adopted by the document while the element is attached.

class AdoptedStyle extends HTMLElement {
  private readonly _sheet = new CSSStyleSheet();
  private _text = '';

  override get textContent(): string {
    return this._text;
  }

  override set textContent(text: string | null) {
    this._text = text ?? '';
    this._sheet.replaceSync(this._text);
  }

  connectedCallback(): void {
    if (!document.adoptedStyleSheets.includes(this._sheet)) document.adoptedStyleSheets = [...document.adoptedStyleSheets, this._sheet];
  }

  disconnectedCallback(): void {
    document.adoptedStyleSheets = document.adoptedStyleSheets.filter((s) => s !== this._sheet);
  }
}

let installed = false;

/** From now on `document.createElement('style')` makes an AdoptedStyle (hidden, no inline CSS). */
export function installAdoptedStyles(): void {
  if (installed) return;
  installed = true;
  customElements.define('podshell-style', AdoptedStyle);
  const create = Document.prototype.createElement;
  Document.prototype.createElement = function (this: Document, tag: string, options?: ElementCreationOptions) {
    if (typeof tag === 'string' && tag.toLowerCase() === 'style') return create.call(this, 'podshell-style');
    return create.call(this, tag, options);
  } as typeof Document.prototype.createElement;
}
