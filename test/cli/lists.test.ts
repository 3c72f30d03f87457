import { cpSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { cliSandbox } from '../support/cli.js';

/**
 * List parameters end to end (examples/escalating-fines.mase): an escalating schedule of
 * fines on stdlib's cournot market, overridden with `--param`, and swept as one factor.
 * The built binary runs in a scratch folder, as the other CLI tests do.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const sandbox = cliSandbox('lists');
const { mase, file, read, write } = sandbox;

beforeAll(() => {
  cpSync(join(root, 'examples/escalating-fines.mase'), file('fines.mase'));
});

const lines = (text: string) => text.trimEnd().split('\n');

/** The fines of a run as `round: amount`, and f1's profit in each round from the trace. */
function finesAndProfits(out: string) {
  const [, ...rows] = lines(read(`${out}/sanctions.csv`));
  const fines = rows.map((row) => {
    const [round, firm, , kind, , amount] = row.split(',');
    expect([firm, kind]).toEqual(['f1', 'fine']);
    return [Number(round), Number(amount)] as const;
  });
  const profit = new Map<number, number>();
  for (const line of lines(read(`${out}/events.jsonl`))) {
    const event = JSON.parse(line) as { type: string; round?: number; profit?: number[] };
    if (event.type === 'market' && event.round !== undefined)
      profit.set(event.round, event.profit?.[0] ?? Number.NaN);
  }
  return { fines, profit };
}

describe('an escalating schedule of fines', () => {
  it('fines 35%, 75%, then 100% of the round profit at every later offence', () => {
    const run = mase('run fines.mase --out published');
    expect(run.code, run.stderr).toBe(0);
    const { fines, profit } = finesAndProfits('published');
    // Offences in rounds 1, 3, 5, 7 (each fine is followed by one round back in `compliant`),
    // each fine the schedule's share of f1's profit that round as the trace records it.
    expect(fines.map(([round]) => round)).toEqual([1, 3, 5, 7]);
    const shares = [0.35, 0.75, 1, 1];
    fines.forEach(([round, amount], i) => {
      expect(amount).toBeCloseTo((shares[i] as number) * (profit.get(round) as number), 9);
    });
    // By hand: price 100 − (40 + 20) = 40 and unit cost 10, so f1 earns 40 × 30 = 1200 a round.
    expect(fines.map(([, amount]) => amount)).toEqual([420, 900, 1200, 1200]);
  });

  it('--param schedule=[…] replaces the whole schedule', () => {
    const run = mase(['run', 'fines.mase', '--out', 'gentle', '--param', 'schedule=[0.5,1,1]']);
    expect(run.code, run.stderr).toBe(0);
    expect(finesAndProfits('gentle').fines.map(([, amount]) => amount)).toEqual([
      600, 1200, 1200, 1200,
    ]);
  });

  it.each([
    ['[]', 'a list needs at least one value'],
    ['[0.5,true]', 'expected numbers, found true'],
    ['0.5', 'a single value does not fit a list; write it in brackets: [0.5]'],
    ['[[0.5],[1]]', 'a list of lists does not fit; write one flat list'],
  ])('--param schedule=%s is bad usage: %s', (value, message) => {
    const run = mase(['run', 'fines.mase', '--out', 'refused', '--param', `schedule=${value}`]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`--param schedule: ${message}`);
  });

  it('a sweep varies the whole schedule as one factor, stored as the list is written', () => {
    const run = mase('sweep fines.mase --workers 1 --out swept');
    expect(run.code, run.stderr).toBe(0);
    const [head, ...rows] = lines(read('swept/results.csv'));
    const columns = (head ?? '').split(',');
    const at = (name: string) => columns.indexOf(name);
    // A list level holds commas, so the CSV quotes it.
    const parsed = rows.map(
      (row) => row.match(/("[^"]*"|[^,]*)(,|$)/g)?.map((c) => c.replace(/,$/, '')) ?? [],
    );
    const byLevel = Object.fromEntries(
      parsed.map((cells) => [cells[at('institution_schedule')], Number(cells[at('fines')])]),
    );
    // Both schedules fine the same four offences of 1200: 0.35 + 0.75 + 1 + 1 and 0.1 + 0.2 + 0.4 + 0.4.
    expect(byLevel).toEqual({
      '"[0.35, 0.75, 1]"': 1200 * 3.1,
      '"[0.1, 0.2, 0.4]"': 1200 * 1.1,
    });
  });

  it('a sweep refuses, before any run, a cell whose constant position is past its list', () => {
    const source = read('fines.mase')
      .replace('fine schedule[visits(fined)] * profit[self]', 'fine schedule[step] * profit[self]')
      .replace('param limit = 25', 'param step = 2\n  param limit = 25')
      .replace(
        'factor institution.schedule = [0.35, 0.75, 1.0] | [0.1, 0.2, 0.4]',
        'factor institution.schedule = [0.35, 0.75, 1.0] | [0.5, 1]\n  factor institution.step = 1 | 3',
      );
    write('combos.mase', source);
    // Each level fits the base on its own, so `mase check` passes; one cell combines two.
    expect(mase('check combos.mase').code).toBe(0);
    const run = mase('sweep combos.mase --workers 1 --out combos');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      'institution_schedule = [0.5, 1], institution_step = 3): E_VALUE with these overrides, escalating: `schedule` has 2 values; position 3 (`step`) is past its end',
    );
    expect(existsSync(file('combos/runs'))).toBe(false);
  });
});

describe('lists in markets, environments, caps and round counts', () => {
  const WORLDS = `mase 1

market tiered "Costs that step up with output" {
  param tiers: list = [10, 20, 40] "unit cost in each band of 20 units"
  firms f1, f2
  param band = 2
  cost = tiers[band]
  capacity = tiers[len(tiers)] * 2
  action quantity in [0, 100]
  price = max(0, 100 - sum(quantity, over: firm))
}

environment ladder "Payoff from a ladder" {
  param rewards: list = [1, 2, 5]
  agents player = 2
  action level in [1, 3] step 1
  payoff = rewards[level] - level
}

institution limits "Lists in every place" {
  scope per firm
  param caps: list = [30, 20]
  param floors: list = [1, 2]
  param waits: list = [2, 3]
  param levels: list = [0.1, 0.5]
  monitor high = profit[self] > levels[2] * 1000
  initial state ok {
    when high and profit[self] > levels[1] -> capped
  }
  state capped {
    cap caps[visits(capped)]
    floor floors[1]
    after waits[len(waits)] rounds -> ok
  }
}

experiment m "tiered" {
  market tiered
  institution limits
  agents constant(q: 30)
  rounds 12
}

experiment e "ladder" {
  environment ladder
  institution none
  agents constant(x: 3)
  rounds 2
}
`;

  it('a market cost, a capacity, an environment payoff, caps and a round count read their lists', () => {
    write('worlds.mase', WORLDS);
    expect(mase('run worlds.mase --experiment m --out market').code).toBe(0);
    const market = lines(read('market/events.jsonl'))
      .map((l) => JSON.parse(l) as { type: string; quantity?: number[][]; cost?: number[] })
      .filter((e) => e.type === 'market');
    // cost = tiers[band] = 20 a unit; both firms ask for 30. Each visit to `capped` caps
    // output at caps[visits]: 30, then 20, then 20 again (past the end: the last); it lasts
    // waits[len(waits)] = 3 rounds after the round of entry (1, 5, 9).
    expect(market.map((e) => e.cost?.[0])).toEqual(
      market.map((e) => 20 * (e.quantity?.[0]?.[0] ?? Number.NaN)),
    );
    expect(market.map((e) => e.quantity?.[0]?.[0])).toEqual([
      30, 30, 30, 30, 30, 20, 20, 20, 30, 20, 20, 20,
    ]);
    expect(mase('run worlds.mase --experiment e --out environment').code).toBe(0);
    const payoffs = lines(read('environment/events.jsonl'))
      .map((l) => JSON.parse(l) as { type: string; values?: { payoff?: number[] } })
      .filter((e) => e.type === 'environment')
      .map((e) => e.values?.payoff);
    // rewards[level] − level at level 3: 5 − 3.
    expect(payoffs).toEqual([
      [2, 2],
      [2, 2],
    ]);
  });
});
