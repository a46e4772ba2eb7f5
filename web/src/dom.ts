/**
 * A few lines of DOM building so the screens read as markup: `h('button', { type: 'submit' }, 'Send')`.
 * Text is always inserted as text nodes, never as HTML, so a message or handle cannot inject markup.
 */

type Child = Node | string | false | null | undefined;
type Attributes = Readonly<Record<string, string | number | boolean | undefined | EventListener>>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: readonly Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') {
      element.addEventListener(name.replace(/^on/, ''), value);
    } else if (value === true) {
      element.setAttribute(name, '');
    } else {
      element.setAttribute(name, String(value));
    }
  }
  append(element, ...children);
  return element;
}

export function append(parent: Node, ...children: readonly Child[]): void {
  for (const child of children) {
    if (child === false || child === null || child === undefined) continue;
    parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

/** Replaces every child of `parent`. */
export function replace(parent: Node, ...children: readonly Child[]): void {
  while (parent.firstChild) parent.removeChild(parent.firstChild);
  append(parent, ...children);
}

/** Handles as typed by people: "bob, carol dave" → ['bob', 'carol', 'dave'], lower-cased, unique. */
export function parseHandles(text: string): string[] {
  return [
    ...new Set(
      text
        .split(/[\s,]+/)
        .map((handle) => handle.trim().toLowerCase())
        .filter((handle) => handle !== ''),
    ),
  ];
}

/** Errors as people read them: the SDK's messages are written for that and never carry secrets. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
