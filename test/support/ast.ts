/** An AST without what formatting is allowed to change: positions, comments and the file path. */
export function stripRanges(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripRanges);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    if (key === 'range' || key === 'comments' || key === 'path') continue;
    out[key] = stripRanges(child);
  }
  return out;
}
