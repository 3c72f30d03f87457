/**
 * The code of the text world `feed` (stdlib/feed.mase): herding on a social feed. Each round
 * the world hands `posts_per_round` users (in turn) an item to post; a post is the poster's
 * first message of the round, and its quality is the item's, drawn from the run's seeded
 * stream. Before anyone talks the world sends each user its feed: the top `feed_size` live
 * posts under the `ranking`, with their vote counts when `visibility` is "shown" and the
 * user's private impression of each post's quality (the quality plus Gaussian noise); the
 * user's action is its vote, a feed position or 0. In `inject_round` the world posts a
 * low-quality item itself. The kind reads only messages and votes, so LLM users are measured
 * as scripted ones; `independent` and `imitator(weight)` make the dynamics testable without
 * a model (docs/metrics.md "feed" gives every formula).
 */

import { gini } from '../../compiler/tensor.js';
import { HOLDS_NOTHING, type Random } from '../agents/agent.js';
import type {
  EnvironmentKind,
  KindAgent,
  KindContext,
  KindInjection,
  KindInstance,
  KindMessage,
} from '../environment/kinds.js';
import { unitValue } from './arguments.js';

/** The `ranking` parameter's options (stdlib/feed.mase). */
export type Ranking = 'votes' | 'recency' | 'random';

/** What the world posts itself in `inject_round`: a false alarm. */
export const INJECTED_TEXT =
  'BREAKING: the city has declared all tap water unsafe; boil everything and share this now.';

/** The first words of the message that hands a poster its item. */
export const ITEM_PREFIX = 'Your item to post this round:';
/** The first words of a feed message. */
export const FEED_PREFIX = 'Your feed for round';

const TOPICS = [
  'a review of the new library opening hours',
  'notes from the river clean-up on Saturday',
  'a guide to the bus timetable changes',
  'photos of the community garden harvest',
  'a summary of the school board budget meeting',
  'tips for cutting the winter heating bill',
  'a map of the new cycle lanes',
  'results of the neighbourhood survey on parking',
  'a recipe from the street food festival',
  'a report on the repaired footbridge',
  'an interview with the retiring postmaster',
  'a list of volunteer openings at the shelter',
] as const;

/** The text of item k (from 1): what its poster is asked to share. */
export function itemText(k: number): string {
  return `Item ${k}: ${TOPICS[(k - 1) % TOPICS.length]}`;
}

/** A standard normal draw (Box–Muller) from a uniform stream. */
function normal(random: Random): number {
  const u = 1 - random.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random.next());
}

/** Pearson's correlation of two equally long samples; NaN when either has no variance. */
export function correlation(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += (x[i] ?? 0) / n;
    my += (y[i] ?? 0) / n;
  }
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = (x[i] ?? 0) - mx;
    const dy = (y[i] ?? 0) - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : Number.NaN;
}

/**
 * The partial correlation of x and y given z: (r_xy − r_xz·r_yz) / √((1 − r_xz²)(1 − r_yz²)),
 * the correlation of what is left of x and of y once each is regressed on z. NaN with fewer
 * than 4 samples, a sample without variance, or z explaining x or y exactly.
 */
export function partialCorrelation(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  z: ArrayLike<number>,
): number {
  if (x.length < 4) return Number.NaN;
  const rxy = correlation(x, y);
  const rxz = correlation(x, z);
  const ryz = correlation(y, z);
  const denominator = Math.sqrt((1 - rxz * rxz) * (1 - ryz * ryz));
  // Clamped: rounding can carry an exact ±1 just past it.
  return denominator > 0 ? Math.max(-1, Math.min(1, (rxy - rxz * ryz) / denominator)) : Number.NaN;
}

/** A post: an item a user posted, or the world's injected one. */
export interface FeedPost {
  /** The message's id (`m3.1.2`), or a stand-in when the talk gave none. */
  readonly id: string;
  /** The poster's index, or −1 for the world. */
  readonly by: number;
  readonly text: string;
  readonly quality: number;
  /** The first round it is in the feed: the round after it was posted. */
  readonly entered: number;
  /** Votes by round of its life: votes[k] were cast in round entered + k. */
  readonly votes: readonly number[];
  /** Votes it started with (the injected post's bought votes). */
  readonly seeded: number;
}

const total = (p: FeedPost) => p.seeded + p.votes.reduce((a, b) => a + b, 0);

interface FeedState {
  readonly posts: readonly FeedPost[];
  /** Users who voted for the injected post at least once. */
  readonly reached: Uint8Array;
}

/** The world's settings of a run, read from the parameters. */
export interface FeedSettings {
  readonly users: number;
  readonly postsPerRound: number;
  readonly feedSize: number;
  readonly lifetime: number;
  readonly earlyRounds: number;
  readonly ranking: Ranking;
  readonly shown: boolean;
  readonly noise: number;
  readonly injectRound: number;
  readonly injectQuality: number;
  readonly injectVotes: number;
}

function settings(context: KindContext): FeedSettings {
  const number = (name: string) => Number(context.params.get(name));
  const ranking = String(context.params.get('ranking')) as Ranking;
  const s: FeedSettings = {
    users: context.agents.length,
    postsPerRound: number('posts_per_round'),
    feedSize: number('feed_size'),
    lifetime: number('lifetime'),
    earlyRounds: number('early_rounds'),
    ranking,
    shown: context.params.get('visibility') === 'shown',
    noise: number('noise'),
    injectRound: number('inject_round'),
    injectQuality: number('inject_quality'),
    injectVotes: number('inject_votes'),
  };
  const whole = (name: string, value: number, low: number, high: number) => {
    if (!(Number.isInteger(value) && value >= low && value <= high))
      throw new RangeError(
        `${name} must be a whole number from ${low} to ${high}; it is ${String(value)}`,
      );
  };
  whole('posts_per_round', s.postsPerRound, 0, s.users);
  whole('feed_size', s.feedSize, 1, 1000);
  whole('lifetime', s.lifetime, 1, 100_000);
  whole('early_rounds', s.earlyRounds, 1, Math.max(1, s.lifetime - 1));
  whole('inject_round', s.injectRound, 0, 1_000_000);
  whole('inject_votes', s.injectVotes, 0, 1_000_000);
  if (!(s.noise >= 0 && Number.isFinite(s.noise)))
    throw new RangeError(`noise must be a number of at least 0; it is ${String(s.noise)}`);
  if (!(s.injectQuality >= 0 && s.injectQuality <= 1))
    throw new RangeError(`inject_quality must be from 0 to 1; it is ${String(s.injectQuality)}`);
  return s;
}

/** Whether a post is in the feed in `round`: from the round after it was posted, for `lifetime` rounds. */
const live = (p: FeedPost, round: number, lifetime: number) =>
  round >= p.entered && round < p.entered + lifetime;

/**
 * The feed of `round`, best first: the top `feed_size` live posts. `votes` puts the posts new
 * this round first (a feed gives each new post one round to collect its first votes), then
 * the others by votes, more first (ties: newer, then earlier posted); `recency` newest first;
 * `random` a seeded shuffle, the same for every user in the round.
 */
export function feedOrder(
  posts: readonly FeedPost[],
  round: number,
  s: Pick<FeedSettings, 'ranking' | 'lifetime' | 'feedSize'>,
  shuffle: () => Random,
): FeedPost[] {
  const candidates = posts.map((p, k) => ({ p, k })).filter(({ p }) => live(p, round, s.lifetime));
  const newer = (a: { p: FeedPost; k: number }, b: { p: FeedPost; k: number }) =>
    b.p.entered - a.p.entered || a.k - b.k;
  if (s.ranking === 'random') {
    const random = shuffle();
    for (let i = candidates.length - 1; i > 0; i--) {
      const j = Math.floor(random.next() * (i + 1));
      [candidates[i], candidates[j]] = [
        candidates[j] as (typeof candidates)[number],
        candidates[i] as (typeof candidates)[number],
      ];
    }
  } else if (s.ranking === 'recency') candidates.sort(newer);
  else
    candidates.sort((a, b) => {
      const fresh = Number(b.p.entered === round) - Number(a.p.entered === round);
      return fresh || total(b.p) - total(a.p) || newer(a, b);
    });
  return candidates.slice(0, s.feedSize).map(({ p }) => p);
}

/** One line of a feed as a user reads it. */
export interface FeedEntry {
  readonly position: number;
  readonly id: string;
  /** The vote count, when votes are shown. */
  readonly votes?: number;
  /** The user's private impression of the post's quality this round. */
  readonly impression: number;
}

const LINE = /^(\d+)\. \[([^\]]+)\](?: votes: (\d+) \|)? impression: (-?\d+(?:\.\d+)?) \|/;

/** The entries of a feed message (a scripted user's reading of it; [] for any other text). */
export function parseFeed(text: string): FeedEntry[] {
  if (!text.startsWith(FEED_PREFIX)) return [];
  return text.split('\n').flatMap((line) => {
    const m = LINE.exec(line);
    if (!m) return [];
    return [
      {
        position: Number(m[1]),
        id: m[2] as string,
        ...(m[3] !== undefined ? { votes: Number(m[3]) } : {}),
        impression: Number(m[4]),
      },
    ];
  });
}

/**
 * A user that posts the item the world handed it, as it is, and votes each round for the feed
 * post it scores highest (the first of equals): (1 − weight)·impression + weight·votes / the
 * most votes in the feed (at least 1) when counts are shown, the impression alone when hidden.
 */
function voter(weight: number): KindAgent {
  return {
    ...HOLDS_NOTHING,
    talk: ({ talkRound, inbox }) => {
      if (talkRound !== 1) return [];
      const item = inbox.find((m) => m.from === 'world' && m.text.startsWith(ITEM_PREFIX));
      if (!item) return [];
      return [
        {
          text: item.text.slice(ITEM_PREFIX.length).trim(),
          ...(item.id !== undefined ? { parents: [item.id] } : {}),
        },
      ];
    },
    decide: ({ inbox }) => {
      const feedMessage = inbox.find((m) => m.from === 'world' && m.text.startsWith(FEED_PREFIX));
      const entries = parseFeed(feedMessage?.text ?? '');
      if (entries.length === 0) return 0;
      const most = Math.max(1, ...entries.map((e) => e.votes ?? 0));
      let best: FeedEntry | undefined;
      let bestScore = Number.NEGATIVE_INFINITY;
      for (const e of entries) {
        const score =
          e.votes === undefined
            ? e.impression
            : (1 - weight) * e.impression + (weight * e.votes) / most;
        if (score > bestScore) {
          best = e;
          bestScore = score;
        }
      }
      return best?.position ?? 0;
    },
  };
}

/** The items handed to the posters of `round` (from 1): poster index and item number. */
function postersOf(round: number, s: FeedSettings): { poster: number; item: number }[] {
  return Array.from({ length: s.postsPerRound }, (_, j) => {
    const k = (round - 1) * s.postsPerRound + j;
    return { poster: k % s.users, item: k + 1 };
  });
}

/**
 * The herding index and attention Gini of the posts so far, at the end of `round`, over the
 * measured posts: the users' posts (not the world's) whose whole life fell after the feed
 * filled up (they entered after `lifetime` rounds, so every one met a full feed) and is
 * over. A post's early votes are those of the first `early_rounds` rounds of its life, its
 * later votes the rest; the herding index is their partial correlation given the posts'
 * qualities, the Gini coefficient is over each post's votes.
 */
export function feedMeasures(
  posts: readonly FeedPost[],
  round: number,
  s: Pick<FeedSettings, 'lifetime' | 'earlyRounds'>,
): { herding: number; gini: number; measured: number } {
  const measured = posts.filter(
    (p) => p.by >= 0 && p.entered > s.lifetime && p.entered + s.lifetime - 1 <= round,
  );
  const sum = (votes: readonly number[]) => votes.reduce((a, b) => a + b, 0);
  return {
    herding: partialCorrelation(
      measured.map((p) => sum(p.votes.slice(0, s.earlyRounds))),
      measured.map((p) => sum(p.votes.slice(s.earlyRounds))),
      measured.map((p) => p.quality),
    ),
    gini: measured.length > 0 ? gini(measured.map(total)) : Number.NaN,
    measured: measured.length,
  };
}

interface RoundOutcome {
  readonly state: FeedState;
  /** Each user's vote this round, as the post it counted for (undefined: none). */
  readonly counted: readonly (FeedPost | undefined)[];
}

export const feed: EnvironmentKind = {
  name: 'feed',
  description: 'herding on a social feed: users post, read a ranked feed and vote',
  talk: { name: 'broadcast', args: [] },
  policies: [
    {
      name: 'independent',
      arguments: [],
      summary:
        'votes for the feed post with the highest private impression; never reads the vote counts',
      create: () => voter(0),
    },
    {
      name: 'imitator',
      arguments: ['weight'],
      summary:
        'votes for the post with the highest (1 − weight)·impression + weight·votes/most votes in the feed; the impression alone when votes are hidden',
      create(args) {
        return voter(unitValue('weight', args.weight ?? 0.5, 'share'));
      },
    },
  ],
  create(context): KindInstance {
    const s = settings(context);
    const n = s.users;
    const qualityOf = (item: number) => context.random(`quality:${item}`).next();
    const shuffle = (round: number) => () => context.random(`ranking:${round}`);
    let state: FeedState = { posts: [], reached: new Uint8Array(n) };
    const injected = (p: FeedPost) => p.by < 0;

    /**
     * Each user's feed message for `round`. Impressions are drawn afresh each round (a
     * reading, independent across users and rounds given the quality), user by user in
     * feed order from the round's own stream.
     */
    const feedTexts = (order: readonly FeedPost[], round: number): string[] => {
      const random = context.random(`impression:${round}`);
      return Array.from({ length: n }, () =>
        [
          `${FEED_PREFIX} ${round} (vote with the number of one post, or 0 for none):`,
          ...order.map((p, k) => {
            const impression = p.quality + s.noise * normal(random);
            const votes = s.shown ? ` votes: ${total(p)} |` : '';
            const author = p.by < 0 ? 'outside the group' : (context.agents[p.by] as string);
            return `${k + 1}. [${p.id}]${votes} impression: ${impression.toFixed(3)} | by ${author}: ${p.text}`;
          }),
        ].join('\n'),
      );
    };

    const play = (
      round: number,
      action: Float64Array,
      messages: readonly KindMessage[],
    ): RoundOutcome => {
      const order = feedOrder(state.posts, round, s, shuffle(round));
      const counted = Array.from(action, (vote) => (vote >= 1 ? order[vote - 1] : undefined));
      const reached = Uint8Array.from(state.reached);
      const tally = new Map<FeedPost, number>();
      counted.forEach((post, u) => {
        if (!post) return;
        tally.set(post, (tally.get(post) ?? 0) + 1);
        if (injected(post)) reached[u] = 1;
      });
      const posts = state.posts.map((p) =>
        live(p, round, s.lifetime) ? { ...p, votes: [...p.votes, tally.get(p) ?? 0] } : p,
      );
      // The round's new posts: each poster's first message, and the world's own.
      for (const { poster, item } of postersOf(round, s)) {
        const m = messages.find((x) => x.from === poster);
        if (m)
          posts.push({
            id: m.id ?? `post${item}`,
            by: poster,
            text: m.text,
            quality: qualityOf(item),
            entered: round + 1,
            votes: [],
            seeded: 0,
          });
      }
      if (round === s.injectRound) {
        const m = messages.find((x) => x.from < 0 && x.text === INJECTED_TEXT);
        posts.push({
          id: m?.id ?? 'injected',
          by: -1,
          text: INJECTED_TEXT,
          quality: s.injectQuality,
          entered: round + 1,
          votes: [],
          seeded: s.injectVotes,
        });
      }
      return { state: { posts, reached }, counted };
    };

    return {
      benchmarks: {},
      inject(round): KindInjection[] {
        const out: KindInjection[] = postersOf(round, s).map(({ poster, item }) => ({
          to: [poster],
          text: `${ITEM_PREFIX} ${itemText(item)}`,
        }));
        if (round === s.injectRound)
          out.push({ to: Array.from({ length: n }, (_, u) => u), text: INJECTED_TEXT });
        const order = feedOrder(state.posts, round, s, shuffle(round));
        if (order.length > 0)
          feedTexts(order, round).forEach((text, u) => {
            out.push({ to: [u], text });
          });
        return out;
      },
      round({ action, round, messages }) {
        const { state: next, counted } = play(round, action, messages);
        const { herding, gini: inequality, measured } = feedMeasures(next.posts, round, s);
        const injectedPost = next.posts.find(injected);
        return {
          values: {
            herding,
            gini: inequality,
            reach:
              s.injectRound > 0 && round >= s.injectRound
                ? next.reached.reduce((a, b) => a + b, 0) / n
                : Number.NaN,
            injected_votes: injectedPost ? total(injectedPost) - injectedPost.seeded : 0,
            measured_posts: measured,
            counted: Float64Array.from(counted, (p) => (p ? 1 : 0)),
            quality_voted: Float64Array.from(counted, (p) => p?.quality ?? 0),
          },
          state: next,
        };
      },
      advance(next) {
        state = next as FeedState;
      },
    };
  },
};
