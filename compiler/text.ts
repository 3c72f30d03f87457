/**
 * Text measures over agents' messages, pure and model-free: chrF (as sacreBLEU computes it
 * by default), token Jaccard, lengths, and the share of tokens in a word list. The formulas
 * are in docs/metrics.md (Text measures). No npm package implements sacreBLEU's chrF, so it
 * is written here once and tested against sacreBLEU's own published values
 * (test/compiler/text.test.ts).
 */

export interface ChrfOptions {
  /** Recall weighs beta times as much as precision (sacreBLEU's default 2). */
  readonly beta?: number;
  /** The largest character n-gram (sacreBLEU's default 6). */
  readonly order?: number;
  /** Keep whitespace in the n-grams (sacreBLEU's default: removed). */
  readonly whitespace?: boolean;
}

const DEFAULT_BETA = 2;
const DEFAULT_ORDER = 6;

// Python's str.split() whitespace, which sacreBLEU removes (JavaScript's \s differs: it has
// U+FEFF and lacks U+001C–U+001F and U+0085).
const PYTHON_WHITESPACE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: Python counts U+001C–U+001F as whitespace
  /[\t\n\v\f\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;
const PYTHON_WHITESPACE_RUNS = new RegExp(PYTHON_WHITESPACE.source, 'gu');

/**
 * The text chrF compares, whitespace removed unless kept, with the offset of each of its
 * characters (code points, as Python indexes strings) and one past the end: character k is
 * `text.slice(at[k], at[k + 1])`.
 */
interface Characters {
  readonly text: string;
  readonly at: Uint32Array;
  readonly length: number;
}

function characters(raw: string, whitespace: boolean): Characters {
  const text = whitespace ? raw : raw.replace(PYTHON_WHITESPACE_RUNS, '');
  const at = new Uint32Array(text.length + 1);
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    // The second half of a surrogate pair continues the character before it.
    if (unit >= 0xdc00 && unit <= 0xdfff && i > 0) {
      const before = text.charCodeAt(i - 1);
      if (before >= 0xd800 && before <= 0xdbff) continue;
    }
    at[length++] = i;
  }
  at[length] = text.length;
  return { text, at, length };
}

/** Counts of each character n-gram, for n = 1..order. */
function ngramCounts(chars: Characters, order: number): Map<string, number>[] {
  const all: Map<string, number>[] = [];
  for (let n = 1; n <= order; n++) {
    const counts = new Map<string, number>();
    for (let i = 0; i + n <= chars.length; i++) {
      const gram = chars.text.slice(chars.at[i], chars.at[i + n]);
      counts.set(gram, (counts.get(gram) ?? 0) + 1);
    }
    all.push(counts);
  }
  return all;
}

/**
 * The statistics of every hypothesis against one reference, whose n-grams are counted once
 * (`chrfStatistics`).
 */
export function chrfStatisticsAgainst(
  reference: string,
  options: ChrfOptions = {},
): (hypothesis: string) => number[] {
  const order = options.order ?? DEFAULT_ORDER;
  const whitespace = options.whitespace ?? false;
  const ref = characters(reference, whitespace);
  const refCounts = ngramCounts(ref, order);
  return (hypothesis) => {
    const hyp = characters(hypothesis, whitespace);
    const hypCounts = ngramCounts(hyp, order);
    const stats: number[] = [];
    for (let n = 1; n <= order; n++) {
      const r = refCounts[n - 1] as Map<string, number>;
      let matched = 0;
      for (const [gram, count] of hypCounts[n - 1] as Map<string, number>)
        matched += Math.min(count, r.get(gram) ?? 0);
      stats.push(Math.max(0, hyp.length - n + 1), Math.max(0, ref.length - n + 1), matched);
    }
    return stats;
  };
}

/**
 * sacreBLEU's sufficient statistics of one hypothesis against one reference: for each
 * n = 1..order, [hypothesis n-grams, reference n-grams, matched n-grams (clipped counts)].
 * Statistics of several pairs add up to the corpus score, as `corpus_chrf` sums them.
 */
export function chrfStatistics(
  hypothesis: string,
  reference: string,
  options: ChrfOptions = {},
): number[] {
  return chrfStatisticsAgainst(reference, options)(hypothesis);
}

/**
 * chrF in 0–1 from statistics, as sacreBLEU's `_compute_f_score` without eps smoothing (its
 * default): precision and recall averaged over the orders where both texts have n-grams,
 * then F_beta = (1 + β²) P R / (β² P + R); 0 when no order has n-grams in both or P + R = 0.
 */
export function chrfFromStatistics(stats: readonly number[], beta: number = DEFAULT_BETA): number {
  let precision = 0;
  let recall = 0;
  let effectiveOrder = 0;
  for (let i = 0; i + 2 < stats.length; i += 3) {
    const hyp = stats[i] as number;
    const ref = stats[i + 1] as number;
    const matched = stats[i + 2] as number;
    if (hyp > 0 && ref > 0) {
      precision += matched / hyp;
      recall += matched / ref;
      effectiveOrder++;
    }
  }
  if (effectiveOrder === 0) return 0;
  precision /= effectiveOrder;
  recall /= effectiveOrder;
  if (precision + recall === 0) return 0;
  const factor = beta * beta;
  return ((1 + factor) * precision * recall) / (factor * precision + recall);
}

/** chrF of one hypothesis against one reference, in 0–1 (sacreBLEU's score / 100). */
export function chrf(hypothesis: string, reference: string, options: ChrfOptions = {}): number {
  return chrfAgainst(reference, options)(hypothesis);
}

/** chrF of every hypothesis against one reference, whose n-grams are counted once. */
export function chrfAgainst(
  reference: string,
  options: ChrfOptions = {},
): (hypothesis: string) => number {
  const statistics = chrfStatisticsAgainst(reference, options);
  return (hypothesis) => chrfFromStatistics(statistics(hypothesis), options.beta);
}

const NON_WORD = /[^\p{L}\p{N}]+/u;

/** The text's tokens: lower-cased, split on every run of characters that are not letters or digits. */
export function tokens(text: string): string[] {
  return text
    .toLowerCase()
    .split(NON_WORD)
    .filter((t) => t !== '');
}

/** |A ∩ B| / |A ∪ B| of the two texts' sets of tokens; 0 when neither has a token. */
export function tokenJaccard(a: string, b: string): number {
  const left = new Set(tokens(a));
  const right = new Set(tokens(b));
  let shared = 0;
  for (const t of left) if (right.has(t)) shared++;
  const union = left.size + right.size - shared;
  return union === 0 ? 0 : shared / union;
}

/** The text's length in characters (Unicode code points, whitespace included). */
export function characterLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** The share of the text's tokens that are in `words`; NaN when it has no token. */
export function lexiconShare(text: string, words: ReadonlySet<string>): number {
  const all = tokens(text);
  if (all.length === 0) return Number.NaN;
  return all.filter((t) => words.has(t)).length / all.length;
}
