import type { Random } from '../agents/agent.js';
import { PolicyArguments, PolicyError, type PolicyReference } from '../agents/policy.js';

/**
 * Who may talk to whom before the firms act: a directed graph over the firms (firm
 * indices), built once per run from the experiment's `talk` item. Random topologies draw
 * from the run's seeded stream, so the same seed gives the same graph.
 *
 * - `none`: nobody talks (the default).
 * - `broadcast`: each message goes to every other firm.
 * - `complete`: each firm may write to any other firm, to one or several.
 * - `ring`: each firm to its two neighbours in firm order.
 * - `star(hub: "f1")`: the hub to every firm and every firm to the hub (default: the first firm).
 * - `small_world(k: 2, p: 0.1)`: Watts–Strogatz: a ring lattice where each firm is linked to
 *   its k nearest neighbours (k/2 on each side), each link rewired with probability p.
 * - `scale_free(m: 1)`: Barabási–Albert: firms join one at a time, each linking to m earlier
 *   firms chosen with probability proportional to their degree.
 * - `chain`: one way down the firm order: the first firm writes to the second, the second to
 *   the third, …; the last writes to nobody.
 * - `tree(branching: 2)`: a rooted tree in firm order, one way from parent to children: the
 *   firm at (0-based) index i writes to those at branching·i + 1 … branching·i + branching.
 * - `edges(pairs: "f1-f2, f2>f3")`: exactly these links; `a-b` is two-way, `a>b` one way,
 *   from a to b.
 *
 * Links are two-way except in `chain`, `tree` and the `a>b` pairs of `edges`: there a firm
 * may hear from a firm it cannot write to (`senders` lists who writes to each). Every topology also takes the talk settings: `rounds` (talk rounds
 * before each market round, default 1), `max_chars` (per message, default 280),
 * `max_messages` (per firm per talk round, default 1) and `visible` (whether the
 * institution can read the messages, through `messages` and `mentions(word)`; default
 * false).
 */

/** The sender of the messages a world sends its agents itself (a text world's injection). */
export const WORLD_SENDER = 'world';

export interface TalkSettings {
  readonly topology: string;
  /** Receivers each firm may write to, by firm index. */
  readonly neighbours: readonly (readonly number[])[];
  /** The firms that may write to each firm, by firm index (the reverse of `neighbours`). */
  readonly senders: readonly (readonly number[])[];
  /** A message goes to all neighbours at once (`broadcast`), else to those it names. */
  readonly broadcast: boolean;
  readonly rounds: number;
  readonly maxChars: number;
  readonly maxMessages: number;
  /** Whether the institution can read what is said. */
  readonly visible: boolean;
}

export const TOPOLOGIES = [
  'none',
  'broadcast',
  'complete',
  'ring',
  'star',
  'small_world',
  'scale_free',
  'chain',
  'tree',
  'edges',
] as const;

const COMMON = ['rounds', 'max_chars', 'max_messages', 'visible'] as const;
const OWN: Record<(typeof TOPOLOGIES)[number], readonly string[]> = {
  none: [],
  broadcast: [],
  complete: [],
  ring: [],
  star: ['hub'],
  small_world: ['k', 'p'],
  scale_free: ['m'],
  chain: [],
  tree: ['branching'],
  edges: ['pairs'],
};

/**
 * The firm a rewired link of firm i goes to: of the firms i is not linked to (i excluded),
 * in firm order, the one at position ⌊u · count⌋; undefined when there is none. Counts past
 * the excluded firms instead of listing the others, so 10,000 firms rewire in milliseconds.
 */
function nthUnlinked(
  linked: ReadonlySet<number>,
  i: number,
  F: number,
  u: number,
): number | undefined {
  const excluded = [...linked, i].sort((x, y) => x - y);
  const count = F - excluded.length;
  if (count <= 0) return undefined;
  let x = Math.floor(u * count);
  for (const e of excluded) if (e <= x) x++;
  return x;
}

/** Who writes to each firm, in firm order: the links reversed (linear in the links). */
function reverse(neighbours: readonly (readonly number[])[]): number[][] {
  const senders: number[][] = neighbours.map(() => []);
  neighbours.forEach((receivers, i) => {
    for (const j of receivers) senders[j]?.push(i);
  });
  return senders;
}

function linkSets(firms: number): Set<number>[] {
  return Array.from({ length: firms }, () => new Set<number>());
}

/** A one-way link: a may write to b. */
function arc(sets: Set<number>[], a: number, b: number): void {
  if (a !== b) sets[a]?.add(b);
}

/** A two-way link. */
function link(sets: Set<number>[], a: number, b: number): void {
  arc(sets, a, b);
  arc(sets, b, a);
}

/** Builds the talk settings of a run; a bad topology or argument is a PolicyError for the user. */
export function talkSettings(
  spec: PolicyReference,
  firms: readonly string[],
  random: Random,
): TalkSettings {
  const name = spec.name as (typeof TOPOLOGIES)[number];
  if (!(TOPOLOGIES as readonly string[]).includes(name))
    throw new PolicyError(
      `unknown talk topology \`${spec.name}\`; topologies: ${TOPOLOGIES.join(', ')}`,
    );
  const a = PolicyArguments.read(`talk ${name}`, spec.args, [...OWN[name], ...COMMON]);
  const F = firms.length;
  const sets = linkSets(F);
  switch (name) {
    case 'none':
      break;
    case 'broadcast':
    case 'complete':
      for (let i = 0; i < F; i++) for (let j = i + 1; j < F; j++) link(sets, i, j);
      break;
    case 'ring':
      for (let i = 0; i < F; i++) link(sets, i, (i + 1) % F);
      break;
    case 'star': {
      const hubName = a.string('hub', firms[0] ?? '');
      const hub = firms.indexOf(hubName);
      if (hub < 0)
        throw new PolicyError(
          `talk star: \`${hubName}\` is not a firm; firms: ${firms.join(', ')}`,
        );
      for (let i = 0; i < F; i++) link(sets, hub, i);
      break;
    }
    case 'small_world': {
      const k = a.number('k', 2, { integer: true, atLeast: 2 });
      if (k % 2 !== 0 || k >= F)
        throw new PolicyError(
          `talk small_world: k must be even and below the number of firms (${F}); got ${k}`,
        );
      const p = a.number('p', 0.1, { atLeast: 0, atMost: 1 });
      for (let i = 0; i < F; i++) for (let d = 1; d <= k / 2; d++) link(sets, i, (i + d) % F);
      // Rewire each lattice link (i, i+d) with probability p to a firm i is not linked to.
      for (let d = 1; d <= k / 2; d++) {
        for (let i = 0; i < F; i++) {
          const j = (i + d) % F;
          if (random.next() >= p || !sets[i]?.has(j)) continue;
          const target = nthUnlinked(sets[i] as Set<number>, i, F, random.next());
          if (target === undefined) continue;
          sets[i]?.delete(j);
          sets[j]?.delete(i);
          link(sets, i, target);
        }
      }
      break;
    }
    case 'scale_free': {
      const m = a.number('m', 1, { integer: true, atLeast: 1 });
      if (m >= F)
        throw new PolicyError(
          `talk scale_free: m must be below the number of firms (${F}); got ${m}`,
        );
      // Start from a complete core of m + 1 firms, then attach the others by degree.
      for (let i = 0; i <= m; i++) for (let j = i + 1; j <= m; j++) link(sets, i, j);
      for (let i = m + 1; i < F; i++) {
        const chosen = new Set<number>();
        while (chosen.size < m) {
          const degrees = Array.from({ length: i }, (_, x) => sets[x]?.size ?? 0);
          const total = degrees.reduce((s, d) => s + d, 0);
          let draw = random.next() * total;
          let pick = 0;
          for (; pick < i - 1; pick++) {
            draw -= degrees[pick] ?? 0;
            if (draw < 0) break;
          }
          chosen.add(pick);
        }
        for (const j of chosen) link(sets, i, j);
      }
      break;
    }
    case 'chain':
      for (let i = 0; i + 1 < F; i++) arc(sets, i, i + 1);
      break;
    case 'tree': {
      const branching = a.number('branching', 2, { integer: true, atLeast: 1 });
      for (let i = 0; i < F; i++)
        for (let c = branching * i + 1; c <= branching * i + branching && c < F; c++)
          arc(sets, i, c);
      break;
    }
    case 'edges': {
      const pairs = a.string('pairs', undefined);
      for (const pair of pairs
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean)) {
        // `a-b` (two-way) or `a>b` (one way, a to b): exactly one of the two marks.
        const [x, y, ...rest] = pair.split(/[->]/).map((s) => s.trim());
        const i = firms.indexOf(x ?? '');
        const j = firms.indexOf(y ?? '');
        if (rest.length > 0 || i < 0 || j < 0 || i === j)
          throw new PolicyError(
            `talk edges: \`${pair}\` is not a link between two firms (write "f1-f2" for two-way, "f1>f2" for one way from f1 to f2, separated by commas); firms: ${firms.join(', ')}`,
          );
        if (pair.includes('>')) arc(sets, i, j);
        else link(sets, i, j);
      }
      break;
    }
  }
  const visible = a.raw('visible') ?? false;
  if (typeof visible !== 'boolean')
    throw new PolicyError(`talk ${name}: argument \`visible\` must be true or false`);
  const neighbours = sets.map((s) => [...s].sort((x, y) => x - y));
  return {
    visible,
    topology: name,
    neighbours,
    senders: reverse(neighbours),
    broadcast: name === 'broadcast',
    rounds: a.number('rounds', 1, { integer: true, atLeast: 1, atMost: 10 }),
    maxChars: a.number('max_chars', 280, { integer: true, atLeast: 1, atMost: 10_000 }),
    maxMessages: a.number('max_messages', 1, { integer: true, atLeast: 1, atMost: 20 }),
  };
}
