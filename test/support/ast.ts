/**
 * An AST or IR without what formatting is allowed to change: source positions (`range:
 * { start, end }`; a sweep factor's numeric `range` stays), comments and the file path.
 */
export function stripRanges(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripRanges);
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    if (key === 'range' && typeof child === 'object' && child !== null && 'start' in child)
      continue;
    if (key === 'comments' || key === 'path') continue;
    out[key] = stripRanges(child);
  }
  return out;
}
