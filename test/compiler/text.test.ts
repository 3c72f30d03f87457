import { describe, expect, it } from 'vitest';
import { LEXICONS } from '../../compiler/lexicons.js';
import {
  characterLength,
  chrf,
  chrfFromStatistics,
  chrfStatistics,
  lexiconShare,
  tokenJaccard,
  tokens,
} from '../../compiler/text.js';

/** sacreBLEU's corpus chrF (statistics summed over the pairs), on its 0–100 scale. */
const corpusChrf = (
  hypotheses: readonly string[],
  references: readonly string[],
  options: { beta?: number; whitespace?: boolean } = {},
) => {
  const total = hypotheses
    .map((h, i) => chrfStatistics(h, references[i] as string, options))
    .reduce((a, b) => a.map((x, k) => x + (b[k] as number)));
  return 100 * chrfFromStatistics(total, options.beta);
};

describe('chrF against published sacreBLEU values', () => {
  // sacreBLEU's own tests, test/test_chrf.py (github.com/mjpost/sacrebleu): `corpus_chrf(...,
  // char_order=6, word_order=0, beta=3, eps_smoothing=False)` ("test_cases_effective_order",
  // the default smoothing) and the same keeping whitespace, checked to EPSILON = 1e-4.
  it.each([
    [['a'], ['a'], 100.0],
    [[''], ['reference'], 0.0],
    [['a b c'], ['a b c'], 100.0],
    [['a b c'], ['abc'], 100.0],
    [[''], ['c'], 0.0],
    [['a', 'b'], ['a', 'c'], 50.0],
    [['aa'], ['ab'], 25.0],
  ])('beta 3: %j against %j is %d', (hyp, ref, expected) => {
    expect(Math.abs(corpusChrf(hyp, ref, { beta: 3 }) - expected)).toBeLessThan(1e-4);
  });

  it.each([
    [
      'Die Beziehung zwischen Obama und Netanjahu ist nicht gerade freundlich.',
      'Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich.',
      67.3481606,
    ],
    [
      'risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists .',
      'risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists .',
      65.2414427,
    ],
  ])('beta 3, whitespace kept: %s', (hyp, ref, expected) => {
    expect(
      Math.abs(corpusChrf([hyp], [ref], { beta: 3, whitespace: true }) - expected),
    ).toBeLessThan(1e-4);
  });

  // sacreBLEU's defaults (beta 2, whitespace removed, no eps smoothing) as published in the
  // metric card of huggingface/datasets, metrics/chrf/README.md, which calls sacreBLEU's CHRF.
  it('beta 2 (the defaults): the metric card examples', () => {
    expect(
      corpusChrf(
        ['The relationship between Obama and Netanyahu is not exactly friendly.'],
        ['The ties between Obama and Netanyahu are not particularly friendly.'],
      ),
    ).toBeCloseTo(61.576379378113785, 9);
    expect(
      corpusChrf(
        [
          'The relationship between cats and dogs is not exactly friendly.',
          'a good bookshop is just a genteel black hole that knows how to read.',
        ],
        [
          'The relationship between dogs and cats is not exactly friendly.',
          'A good bookshop is just a genteel Black Hole that knows how to read.',
        ],
      ),
    ).toBeCloseTo(84.64214891738334, 9);
  });
});

describe('chrF by hand', () => {
  it('is 1 for identical texts, 0 with no shared character, 0 when either is empty', () => {
    expect(chrf('split the market', 'split the market')).toBe(1);
    expect(chrf('abc', 'xyz')).toBe(0);
    expect(chrf('', 'abc')).toBe(0);
    expect(chrf('abc', '')).toBe(0);
    // sacreBLEU's convention: no order has n-grams in both texts, so 0, even for two empties.
    expect(chrf('', '')).toBe(0);
    expect(chrf('   ', ' ')).toBe(0);
  });

  it('ignores whitespace, including the Unicode spaces Python splits on', () => {
    expect(chrf('a b\tc\u00a0d', 'abcd')).toBe(1);
    expect(chrf('ab\u001fcd', 'abcd')).toBe(1);
  });

  it('"ab" against "abc": P = 1, R = (2/3 + 1/2) / 2 = 7/12, F2 = 5PR / (4P + R)', () => {
    // n = 1: 2 of 2 matched of the hypothesis, 2 of 3 of the reference; n = 2: 1 of 1, 1 of 2;
    // n ≥ 3: the hypothesis has no n-gram, so those orders do not count.
    expect(chrfStatistics('ab', 'abc').slice(0, 9)).toEqual([2, 3, 2, 1, 2, 1, 0, 1, 0]);
    const p = 1;
    const r = 7 / 12;
    expect(chrf('ab', 'abc')).toBeCloseTo((5 * p * r) / (4 * p + r), 12);
  });

  it('counts characters as code points, as Python does', () => {
    expect(chrfStatistics('😀😀', '😀', { order: 1 })).toEqual([2, 1, 1]);
    // A lone surrogate is a character of its own, as in Python.
    expect(chrfStatistics('\ud800a\udc00', 'a', { order: 2 })).toEqual([3, 1, 1, 2, 0, 0]);
    expect(characterLength('😀 ok')).toBe(4);
  });

  it('clips matches at the reference count', () => {
    expect(chrfStatistics('aaaa', 'a', { order: 2 })).toEqual([4, 1, 1, 3, 0, 0]);
  });
});

describe('tokens, Jaccard, length and lexicon share', () => {
  it('tokens are lower-cased runs of letters and digits', () => {
    expect(tokens("Let's SPLIT the market: 50/50, ok?")).toEqual([
      'let',
      's',
      'split',
      'the',
      'market',
      '50',
      '50',
      'ok',
    ]);
    expect(tokens('Grüße, Ärger')).toEqual(['grüße', 'ärger']);
    expect(tokens(' ,.; ')).toEqual([]);
  });

  it('Jaccard is shared distinct tokens over all distinct tokens', () => {
    expect(tokenJaccard('We split it', 'split IT, we!')).toBe(1);
    // {we, split, it} and {we, share, it, all}: 2 shared of 5.
    expect(tokenJaccard('we split it', 'we share it all')).toBeCloseTo(2 / 5, 12);
    expect(tokenJaccard('a b', 'c d')).toBe(0);
    expect(tokenJaccard('', 'a')).toBe(0);
    expect(tokenJaccard('...', '')).toBe(0);
  });

  it('the lexicon share counts every token, repeats included', () => {
    const words = LEXICONS.get('collusion') as ReadonlySet<string>;
    // split, together: 2 of the 6 tokens.
    expect(lexiconShare('Let us split it together, OK', words)).toBeCloseTo(2 / 6, 12);
    expect(lexiconShare('split split', words)).toBe(1);
    expect(lexiconShare('nice weather', words)).toBe(0);
    expect(lexiconShare('?!', words)).toBeNaN();
  });

  it('every shipped word list is lower-case single tokens', () => {
    for (const [, words] of LEXICONS) for (const w of words) expect(tokens(w)).toEqual([w]);
  });
});
