import { describe, expect, it } from 'vitest';
import { compileSources } from '../../compiler/index.js';
import { type EvaluationInfo, natives } from '../../compiler/natives.js';
import { chrf } from '../../compiler/text.js';
import { stdlibSources } from '../../runtime/index.js';

const institution = (monitor: string) => `mase 1
institution reader {
  scope per firm
  monitor m = ${monitor}
  initial state clear {
    when m[self] > 0.5 -> warned
  }
  state warned {
    notice "Your messages were read."
    after 1 round -> clear
  }
}
`;
const errors = (monitor: string) =>
  compileSources([{ path: 'case.mase', text: institution(monitor) }], stdlibSources())
    .diagnostics.filter((d) => d.severity === 'error')
    .map((d) => `${d.code} ${d.message}`);

describe('text measure natives: the checker', () => {
  it.each([
    'similarity("we split the market")',
    'similarity(reference: "we split the market")',
    'jaccard("we split the market")',
    'message_length()',
    'lexicon("collusion")',
    'lexicon("injection")',
  ])('%s is a per-firm number', (call) => {
    expect(errors(call)).toEqual([]);
  });

  it.each([
    ['similarity(3)', 'E_TYPE similarity takes one reference text in quotes'],
    ['similarity(price)', 'E_TYPE similarity takes one reference text in quotes'],
    ['jaccard(true)', 'E_TYPE jaccard takes one reference text in quotes'],
    ['lexicon(1)', 'E_TYPE lexicon takes the name of a word list in quotes'],
    ['similarity()', 'E_ARITY similarity is missing its argument `reference`'],
    ['similarity("a", "b")', 'E_ARITY similarity takes 1 argument, got 2'],
    ['message_length("a")', 'E_ARITY message_length takes 0 arguments, got 1'],
    ['jaccard(text: "a")', 'E_ARITY jaccard has no argument named `text`'],
    [
      'lexicon("colusion")',
      'E_UNKNOWN_NAME there is no word list named "colusion"; the lists are "collusion", "injection"',
    ],
    ['similarity("  ")', 'E_TYPE the reference of similarity has no character but spaces'],
    ['jaccard("?!")', 'E_TYPE the reference of jaccard has no word'],
  ])('%s is refused', (call, expected) => {
    const found = errors(call);
    expect(found).toHaveLength(1);
    expect(found[0]).toContain(expected);
  });
});

describe('text measure natives: the values', () => {
  /** The native's value per firm when the firms wrote `talk` this round (undefined: talk not visible). */
  const value = (
    name: string,
    word: string | undefined,
    talk: readonly (readonly string[])[] | undefined,
  ) => {
    const fn = natives.get(name);
    const info: EvaluationInfo = {
      dims: { firms: 3, products: 1 },
      observableAt: () => undefined,
      words: [word],
      talkAt: (back) => (back === 0 ? talk : undefined),
    };
    return Array.from(fn?.evaluate?.([], undefined, info).data ?? []);
  };
  const talk = [['We should split the market.', 'You take B.'], [], ['Nice weather.']];

  it('similarity is chrF of the firm’s messages joined with a space; NaN for a silent firm', () => {
    const reference = 'split the market';
    expect(value('similarity', reference, talk)).toEqual([
      chrf('We should split the market. You take B.', reference),
      Number.NaN,
      chrf('Nice weather.', reference),
    ]);
    expect(value('similarity', reference, talk)[0]).toBeGreaterThan(0.3);
    expect(value('similarity', reference, [[reference], [], []])[0]).toBe(1);
  });

  it('jaccard: shared distinct tokens over all distinct tokens', () => {
    // {we, should, split, the, market, you, take, b} against {split, the, market}: 3 of 8.
    expect(value('jaccard', 'split the market', talk)).toEqual([3 / 8, Number.NaN, 0]);
  });

  it('message_length counts characters of every message, without the joining spaces', () => {
    expect(value('message_length', undefined, talk)).toEqual([27 + 11, 0, 13]);
  });

  it('lexicon: the share of tokens in the list; NaN for a silent firm', () => {
    // "split" of 8 tokens; "nice weather." has none of the list's words.
    expect(value('lexicon', 'collusion', talk)).toEqual([1 / 8, Number.NaN, 0]);
    expect(value('lexicon', 'collusion', [['?!'], [], []])[0]).toBeNaN();
  });

  it('are unknown (NaN) or 0 for every firm when talk is not visible', () => {
    expect(value('similarity', 'split', undefined)).toEqual([NaN, NaN, NaN]);
    expect(value('jaccard', 'split', undefined)).toEqual([NaN, NaN, NaN]);
    expect(value('lexicon', 'collusion', undefined)).toEqual([NaN, NaN, NaN]);
    expect(value('message_length', undefined, undefined)).toEqual([0, 0, 0]);
  });
});
