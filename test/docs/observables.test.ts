import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MARKET_OBSERVABLES, observablesFor } from '../../compiler/observables.js';

/**
 * The language reference's table of market observables is the table of
 * compiler/observables.ts, row by row: names in order, axes for both kinds of competition,
 * meanings word for word. An observable added in one place and not the other fails here.
 */

const doc = readFileSync(new URL('../../docs/language.md', import.meta.url), 'utf8');
const start = doc.indexOf('### Observables');
const section = doc.slice(start, doc.indexOf('\n### ', start + 1));
const rows = section
  .split('\n')
  .filter((l) => l.startsWith('| `'))
  .map((l) =>
    l
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim()),
  );

describe('docs/language.md, "Observables"', () => {
  it('lists every observable of compiler/observables.ts, in order, with its axes and meaning', () => {
    const axes = (a: readonly string[] | undefined) => (a?.length ? a.join(' × ') : 'scalar');
    const quantity = observablesFor('quantity');
    const price = observablesFor('price');
    const expected = Object.entries(MARKET_OBSERVABLES).map(([name, o]) => [
      `\`${name}\``,
      axes(quantity.get(name)?.axes),
      axes(price.get(name)?.axes),
      o.meaning,
    ]);
    expect(rows).toEqual(expected);
  });
});
