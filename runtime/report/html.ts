/**
 * HTML building for reports. Names, titles, notices, rationales and policy names come from
 * agents and source files, so every interpolated value is escaped by default: markup only
 * gets in as a `Markup` value, built by `html` itself or by `trustedMarkup` (for SVG that
 * `inlineSvg` has checked). Forgetting to escape something is then impossible to write.
 */

const ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for HTML element content and quoted attribute values alike. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

/** A fragment of markup that is already safe to place in a page as is. */
export class Markup {
  readonly #text: string;

  constructor(text: string) {
    this.#text = text;
  }

  toString(): string {
    return this.#text;
  }
}

/** What `html` accepts in a `${…}` slot: text (escaped), markup (kept), lists (joined). */
export type Slot = Markup | string | number | boolean | null | undefined | readonly Slot[];

function render(slot: Slot): string {
  if (slot instanceof Markup) return slot.toString();
  if (slot === null || slot === undefined || slot === false) return '';
  if (Array.isArray(slot)) return slot.map(render).join('');
  return escapeHtml(String(slot));
}

/** Tagged template: the literal parts are markup, every interpolation is escaped. */
export function html(parts: TemplateStringsArray, ...slots: readonly Slot[]): Markup {
  let out = parts[0] ?? '';
  slots.forEach((slot, i) => {
    out += render(slot) + (parts[i + 1] ?? '');
  });
  return new Markup(out);
}

/** Wraps markup produced by a checked renderer; never call it on text from a run. */
export function trustedMarkup(text: string): Markup {
  return new Markup(text);
}

// SVG elements the Graphviz and Vega SVG writers emit (Graphviz wraps tooltips in <a>, whose
// links are checked below). Anything else (script, foreignObject, use, image, animate…) could
// run code or fetch something, so it makes the SVG unusable.
const SVG_ELEMENTS = new Set([
  'a',
  'svg',
  'g',
  'path',
  'rect',
  'line',
  'polyline',
  'polygon',
  'circle',
  'ellipse',
  'text',
  'tspan',
  'title',
  'desc',
  'defs',
  'clippath',
  'lineargradient',
  'radialgradient',
  'stop',
]);

/** Why an SVG may not be inlined, or undefined when it may. */
export function svgProblem(svg: string): string | undefined {
  // Outside tags, '<' and '&' only occur escaped in well-formed XML, so every literal '<'
  // opens a tag; a tag that does not parse here is refused rather than guessed at.
  const tag = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/y;
  const attribute = /\s+([\w:.-]+)\s*=\s*("[^"]*"|'[^']*')/g;
  let at = svg.indexOf('<');
  while (at !== -1) {
    tag.lastIndex = at;
    const match = tag.exec(svg);
    if (!match) return `unparsable markup at offset ${at}`;
    const name = (match[2] as string).toLowerCase();
    if (!SVG_ELEMENTS.has(name)) return `element <${name}> is not allowed`;
    for (const a of (match[3] as string).matchAll(attribute)) {
      const attr = (a[1] as string).toLowerCase();
      const value = (a[2] as string).slice(1, -1).trim();
      if (attr.startsWith('on')) return `event handler attribute ${attr}`;
      if ((attr === 'href' || attr.endsWith(':href')) && !value.startsWith('#'))
        return `link attribute ${attr}`;
      if (attr === 'style' && /@import|expression\s*\(/i.test(value))
        return 'style attribute loading a resource';
      // aria-* hold text for screen readers (inert); presentation attributes may reference
      // a gradient or clip path in the same document, never anything outside it.
      if (!attr.startsWith('aria-') && /url\s*\(\s*['"]?(?!#)/i.test(value))
        return `external url() in ${attr}`;
    }
    at = svg.indexOf('<', tag.lastIndex);
  }
  return undefined;
}

/**
 * Prepares a renderer's SVG document for inlining: drops the XML declaration, doctype and
 * comments (none of which belong inside HTML), then checks what is left. Returns the
 * markup, or the reason it was refused.
 */
export function inlineSvg(svg: string): { markup: Markup } | { problem: string } {
  const body = svg
    .replace(/<\?xml[\s\S]*?\?>/g, '')
    .replace(/<!DOCTYPE[^>[]*(\[[\s\S]*?\])?\s*>/gi, '')
    .replace(/<!--[\s\S]*?-->/g, '')
    .trim();
  if (!/^<svg[\s>]/i.test(body)) return { problem: 'the output is not an SVG document' };
  const problem = svgProblem(body);
  return problem ? { problem } : { markup: trustedMarkup(body) };
}
