/**
 * A tiny DOM builder for the panel's views (no framework: the panel is a few
 * lists re-rendered from the model).
 */

type Child = Node | string | number | null | undefined | false;

export interface IAttrs {
  class?: string;
  title?: string;
  /** `data-*` attributes, without the prefix. */
  data?: Record<string, string>;
  on?: Partial<Record<keyof HTMLElementEventMap, (event: Event) => void>>;
  [attr: string]: unknown;
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: IAttrs | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) {
      continue;
    }
    if (key === 'class') {
      el.className = String(value);
    } else if (key === 'data') {
      for (const [name, v] of Object.entries(value as Record<string, string>)) {
        el.dataset[name] = v;
      }
    } else if (key === 'on') {
      for (const [name, fn] of Object.entries(value as Record<string, EventListener>)) {
        el.addEventListener(name, fn);
      }
    } else if (value === true) {
      el.setAttribute(key, '');
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(parent: Element, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    parent.append(typeof child === 'number' ? String(child) : child);
  }
}

/** Replace the content of `parent` with `children`. */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.textContent = '';
  append(parent, children);
}

/** A horizontal bar filled to `value` (0..1); empty and dimmed when unknown. */
export function bar(value: number | null, kind: string, title: string): HTMLElement {
  const fill = h('span', { class: `jp-MeshPanel-barFill jp-mod-${kind}` });
  fill.style.width = `${Math.round((value ?? 0) * 100)}%`;
  return h(
    'div',
    { class: `jp-MeshPanel-bar${value === null ? ' jp-mod-unknown' : ''}`, title },
    fill
  );
}

/** A coloured status pill (same colours as the in-cell dashboard). */
export function pill(status: string, text: string = status): HTMLElement {
  return h('span', { class: `jp-MeshPanel-pill jp-mod-${status}` }, text);
}
