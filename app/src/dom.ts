/**
 * A tiny typed DOM builder: `h('button', { class: 'primary', onclick }, 'Send')`. Text children are
 * always text nodes (never HTML), so content from other people cannot inject markup; the CSP forbids
 * inline script as a second line (docs/app.md).
 */
type Child = Node | string | number | false | null | undefined;
type Attributes<K extends keyof HTMLElementTagNameMap> = {
  [A in keyof HTMLElementTagNameMap[K]]?: HTMLElementTagNameMap[K][A] extends (...args: never[]) => unknown
    ? HTMLElementTagNameMap[K][A]
    : HTMLElementTagNameMap[K][A] | undefined;
} & { class?: string; testid?: string; dataset?: Record<string, string>; attrs?: Record<string, string> };

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes<K> | null = null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (attributes !== null) {
    for (const [name, value] of Object.entries(attributes)) {
      if (value === undefined) continue;
      if (name === 'class') element.className = value as string;
      else if (name === 'testid') element.dataset.testid = value as string;
      else if (name === 'dataset') Object.assign(element.dataset, value);
      else if (name === 'attrs') for (const [a, v] of Object.entries(value as Record<string, string>)) element.setAttribute(a, v);
      else (element as unknown as Record<string, unknown>)[name] = value;
    }
  }
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === false || child === null || child === undefined) continue;
    parent.appendChild(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
}

/** Replaces everything inside `parent`. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

/** `document.querySelector` that fails loudly: the app's own markup is known. */
export function must<T extends Element = HTMLElement>(selector: string, root: ParentNode = document): T {
  const found = root.querySelector<T>(selector);
  if (found === null) throw new Error(`the page has no ${selector}`);
  return found;
}
