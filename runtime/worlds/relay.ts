/**
 * The code of the text world `relay` (stdlib/relay.mase): a transmission chain. The world
 * gives the seed text to the first link in round 1; each link passes on what it received,
 * rewritten by its policy, in the round after it received it, so generation g is what link
 * g wrote in round g (on the default `chain`). The kind measures each generation against
 * the seed: chrF similarity (compiler/text.ts, sacreBLEU's defaults), characters and words.
 * Scripted policies: `copy`, `noisy_copy(rate)` (seeded token drops and swaps) and
 * `truncate(words)` (docs/metrics.md "relay" gives every formula).
 */
import { LEXICONS } from '../../compiler/lexicons.js';
import { characterLength, chrf, lexiconShare, tokens } from '../../compiler/text.js';
import type {
  EnvironmentKind,
  KindAgent,
  KindInboxMessage,
  KindInstance,
} from '../environment/kinds.js';
import { unitValue } from './arguments.js';

/** The seed text when `seed_text` is not given: a short factual paragraph. */
export const DEFAULT_SEED =
  'The committee met on Tuesday and agreed to raise the river levee by two metres before the spring floods, funded by a levy on the three upstream mills.';

/**
 * A link that passes on the last text it received, once, rewritten by `rewrite`: as soon as
 * it has one when it may talk (the first link reads the world's seed before the talk).
 */
function link(rewrite: (text: string) => string): KindAgent {
  let pending: KindInboxMessage | undefined;
  // The talk's inbox is a prefix of the round's: each message is read once.
  let seenRound = 0;
  let seen = 0;
  const read = (round: number, inbox: readonly KindInboxMessage[]) => {
    if (round !== seenRound) {
      seenRound = round;
      seen = 0;
    }
    const last = inbox.slice(seen).at(-1);
    seen = inbox.length;
    if (last) pending = last;
  };
  return {
    save: () => ({ pending, seenRound, seen }),
    restore(state) {
      ({ pending, seenRound, seen } = state as {
        pending: KindInboxMessage | undefined;
        seenRound: number;
        seen: number;
      });
    },
    talk: ({ round, inbox, talkRound }) => {
      read(round, inbox);
      if (talkRound !== 1 || pending === undefined) return [];
      // The copy names what it was made from, so its lineage leads back to the seed.
      const message = {
        text: rewrite(pending.text),
        ...(pending.id !== undefined ? { parents: [pending.id] } : {}),
      };
      pending = undefined;
      return [message];
    },
    decide: ({ round, inbox }) => {
      read(round, inbox);
      return 1;
    },
  };
}

/**
 * Each word, with probability `rate`, is hit: a hit word is dropped or (equal chance) swapped
 * with the word that follows it in the copy. Each word survives with probability 1 − rate/2,
 * independently, so a copy of W words has Binomial(W, 1 − rate/2) words and generation g has
 * W·(1 − rate/2)^g on average. Whitespace is normalised to one space.
 */
export function noisyCopy(text: string, rate: number, next: () => number): string {
  const kept: { word: string; swap: boolean }[] = [];
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (next() >= rate) kept.push({ word, swap: false });
    else if (next() >= 0.5) kept.push({ word, swap: true });
  }
  const out = kept.map((k) => k.word);
  for (let i = 0; i + 1 < kept.length; i++)
    if (kept[i]?.swap) [out[i], out[i + 1]] = [out[i + 1] as string, out[i] as string];
  return out.join(' ');
}

interface RelayState {
  /** The latest generation's similarity to the seed (NaN before any). */
  readonly last: number;
  /** The first generation (round) whose similarity fell below the threshold (0: none yet). */
  readonly drift: number;
}

export const relay: EnvironmentKind = {
  name: 'relay',
  description: 'a transmission chain: a seed text retold from agent to agent',
  talk: { name: 'chain', args: [] },
  policies: [
    {
      name: 'copy',
      arguments: [],
      summary: 'passes on exactly what it received',
      create: () => link((text) => text),
    },
    {
      name: 'noisy_copy',
      arguments: ['rate'],
      summary:
        'passes on what it received with each word, with probability rate, dropped or swapped with the next (equal chance)',
      create(args, context) {
        const rate = unitValue('rate', args.rate ?? 0.1);
        return link((text) => noisyCopy(text, rate, () => context.random.next()));
      },
    },
    {
      name: 'truncate',
      arguments: ['words'],
      summary: 'passes on the first `words` words of what it received',
      create(args) {
        const keep = args.words ?? 20;
        if (!(Number.isInteger(keep) && keep >= 0))
          throw new RangeError(`words is a whole number of at least 0; it is ${keep}`);
        return link((text) => text.split(/\s+/).filter(Boolean).slice(0, keep).join(' '));
      },
    },
  ],
  create(context): KindInstance {
    const seed = String(context.params.get('seed_text') ?? '') || DEFAULT_SEED;
    const threshold = Number(context.params.get('threshold'));
    // The declaration's option parameter names one of the shipped lists.
    const words = LEXICONS.get(String(context.params.get('lexicon') ?? 'injection')) ?? new Set();
    let state: RelayState = { last: Number.NaN, drift: 0 };
    return {
      benchmarks: {},
      inject: (round) => (round === 1 ? [{ to: [0], text: seed }] : []),
      round({ messages, round }) {
        // This round's generation: what the links wrote (the world's seed is generation 0).
        const written = messages.filter((m) => m.from >= 0).map((m) => m.text);
        // A text with no token has no lexicon share: means are over the texts with a value.
        const mean = (f: (text: string) => number) => {
          const xs = written.map(f).filter((x) => !Number.isNaN(x));
          return xs.length > 0 ? xs.reduce((sum, x) => sum + x, 0) / xs.length : Number.NaN;
        };
        const similarity = mean((text) => chrf(text, seed));
        const next: RelayState = {
          last: written.length > 0 ? similarity : state.last,
          drift: state.drift || (similarity < threshold ? round : 0),
        };
        return {
          values: {
            similarity,
            characters: mean(characterLength),
            words: mean((text) => tokens(text).length),
            lexicon_score: mean((text) => lexiconShare(text, words)),
            latest_similarity: next.last,
            drift_round: next.drift || Number.NaN,
          },
          state: next,
        };
      },
      advance(next) {
        state = next as RelayState;
      },
    };
  },
};
