import { describe, expect, it } from 'vitest';
import { compileSources } from '../../../compiler/index.js';
import {
  computeBenchmarks,
  instantiateMarket,
  type MarketInstance,
  type Observation,
  promptValues,
  stdlibSources,
} from '../../../runtime/index.js';

/**
 * What a firm's prompt shows of past rounds: the last `memory` rounds, numbered as they
 * were played, with the firm's own observations. Views of past rounds are written once
 * and kept, so the same rounds are shown again as they were, for each firm and market.
 */

const library = compileSources([], stdlibSources(), { includeLibrary: true }).program;

function market(firms: number, costs: number[]): MarketInstance {
  const ir = library.markets.find((m) => m.name === 'cournot');
  if (!ir) throw new Error('stdlib cournot is missing');
  return instantiateMarket(ir, { firms, costs });
}

/** Five rounds of play in `m`, each firm producing more round by round. */
function playedRounds(m: MarketInstance): Observation['history'] {
  return Array.from({ length: 5 }, (_, r) => {
    const actions = Float64Array.from({ length: m.dims.firms }, (_, i) => 10 + r + i);
    return { actions, outcome: m.clear(actions) };
  });
}

const observe = (
  m: MarketInstance,
  firm: number,
  history: Observation['history'],
): Observation => ({
  round: history.length + 1,
  firm,
  market: m,
  benchmarks: computeBenchmarks(m),
  history,
});

const historyOf = (o: Observation, memory: number | 'all') =>
  promptValues(o, { plans: '', insights: '' }, memory, '{}').history;

describe('the history in a prompt', () => {
  const m = market(3, [10, 11, 12]);
  const history = playedRounds(m);

  it('shows the last rounds remembered, numbered as played, with the firm’s own values', () => {
    const lines = historyOf(observe(m, 1, history), 2).split('\n');
    expect(lines.map((l) => l.split(':')[0])).toEqual(['round 4', 'round 5']);
    // Firm 1 produced 10 + r + 1 in round r + 1.
    expect(lines[0]).toContain('your quantity good 14');
    expect(lines[1]).toContain('your quantity good 15');
    expect(historyOf(observe(m, 1, history), 'all').split('\n')).toHaveLength(5);
    expect(historyOf(observe(m, 1, []), 3)).toBe('(nothing yet: this is the first round)');
    expect(historyOf(observe(m, 1, history), 0)).toBe('(you keep no memory of past rounds)');
  });

  it('shows a round the same when it is shown again, a round later or to another firm', () => {
    const later = historyOf(observe(m, 1, history), 3).split('\n');
    const earlier = historyOf(observe(m, 1, history.slice(0, 4)), 3).split('\n');
    expect(later.slice(0, 2)).toEqual(earlier.slice(1));
    const other = historyOf(observe(m, 2, history), 3);
    expect(other).toContain('your quantity good 16');
    expect(other).not.toEqual(later.join('\n'));
  });

  it('writes each market’s own view of an outcome', () => {
    // The same outcome objects read in a market that names its good and observes
    // differently: each market's prompt shows its own words.
    const widgets = compileSources(
      [
        {
          path: 'widgets.mase',
          text: `mase 1
market widgets {
  param firms = 3
  firms = firms
  cost = 10
  action quantity in [0, 100]
  price = max(0, 100 - sum(quantity, over: firm))
  observe quantity
}
`,
        },
      ],
      [],
    );
    expect(widgets.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const ir = widgets.program.markets[0];
    if (!ir) throw new Error('no market');
    const other = instantiateMarket(ir, {});
    const a = historyOf(observe(m, 0, history), 1);
    const b = historyOf(observe(other, 0, history), 1);
    // Round 5: firms made 14, 15, 16; the price is 100 − 45 = 55; firm 0 earns (55 − 10) × 14.
    expect(a).toBe('round 5: price good 55; your quantity good 14; your profit 630');
    expect(b.startsWith('round 5: f1 quantity ')).toBe(true);
    expect(historyOf(observe(m, 0, history), 1)).toBe(a);
  });
});
