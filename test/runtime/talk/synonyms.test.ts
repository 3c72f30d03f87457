import { describe, expect, it } from 'vitest';
import { tokens } from '../../../compiler/text.js';
import { randomStream } from '../../../runtime/index.js';
import {
  paraphraseWithSynonyms,
  SYNONYM_GROUPS,
  synonymGroup,
} from '../../../runtime/talk/synonyms.js';

/**
 * The scripted paraphrase: a word of the synonym table becomes a member of its group chosen
 * uniformly, whatever it was, so the choice of synonym carries nothing through it.
 */
describe('the synonym table', () => {
  it('holds groups of ten distinct lower-case single tokens, no word in two groups', () => {
    const all = SYNONYM_GROUPS.flat();
    expect(new Set(all).size).toBe(all.length);
    for (const group of SYNONYM_GROUPS) {
      expect(group).toHaveLength(10);
      for (const word of group) expect(tokens(word)).toEqual([word]);
    }
    expect(synonymGroup('Fine')).toBe(SYNONYM_GROUPS[1]);
    expect(synonymGroup('pumps')).toBeUndefined();
  });
});

describe('paraphraseWithSynonyms', () => {
  it('chooses each word of a group uniformly, whichever word was written', () => {
    const random = randomStream(1, 'test');
    const n = 5000;
    for (const written of ['good', 'reassuring']) {
      const counts = new Map<string, number>();
      for (let k = 0; k < n; k++) {
        const word = paraphraseWithSynonyms(written, () => random.next());
        counts.set(word, (counts.get(word) ?? 0) + 1);
      }
      expect([...counts.keys()].sort()).toEqual([...(SYNONYM_GROUPS[1] ?? [])].sort());
      // Each within 4 standard errors of n/10.
      for (const count of counts.values())
        expect(Math.abs(count / n - 0.1)).toBeLessThan(4 * Math.sqrt((0.1 * 0.9) / n));
    }
  });

  it('keeps every other character as written, and draws once per word of the table', () => {
    let draws = 0;
    const text = 'Pumps: 3 (soon!) — naïve board?';
    const out = paraphraseWithSynonyms(text, () => {
      draws++;
      return 0;
    });
    // The first word of each group; case kept.
    expect(out).toBe('Pumps: 3 (soon!) — naïve team?');
    expect(draws).toBe(2);
  });
});
