import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { compileSources, type IrPolicy } from '../../../compiler/index.js';
import {
  computeEnvironmentMetrics,
  type EnvironmentMetrics,
  parseTrace,
  resolveExperiment,
  runToDirectory,
  stdlibSources,
} from '../../../runtime/index.js';
import { environmentRunner } from '../../support/environment-run.js';

/**
 * The metrics of runs whose every round can be worked out on paper, computed here from the
 * definitions published in stdlib/commons.mase and stdlib/minimum-effort.mase:
 *   survival_rounds = the last round played;
 *   efficiency      = total catch / (capacity · (1 − 1/growth) · horizon);
 *   equality        = 1 − Gini of each fisher's total catch, Gini = Σᵢ Σⱼ |xᵢ − xⱼ| / (2 n² mean);
 *   overuse_rate    = share of fisher-rounds asking for more than capacity · (1 − 1/growth) / fishers;
 *   min_effort      = the group minimum averaged over rounds;
 *   coordination_failure = share of rounds whose minimum is below `levels`;
 *   efficiency_loss = 1 − mean total payoff / (players · (a + (b − c) · levels)).
 * Defaults: commons 5 fishers, stock = capacity = 100, growth 2, collapse 5 (sustainable
 * share 10); minimum_effort a = 0.6, b = 0.2, c = 0.1, levels 7.
 */

const policy = (name: string, ...args: number[]): IrPolicy => ({
  name,
  args: args.map((value) => ({ value })),
});

const runEnvironment = environmentRunner('environment-metrics');
const run = async (...args: Parameters<typeof runEnvironment>): Promise<EnvironmentMetrics> =>
  (await runEnvironment(...args)).metrics;

/** Gini as docs define it, written out for the test: Σᵢ Σⱼ |xᵢ − xⱼ| / (2 n² mean). */
function gini(xs: readonly number[]): number {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  let total = 0;
  for (const x of xs) for (const y of xs) total += Math.abs(x - y);
  return mean === 0 ? 0 : total / (2 * n * n * mean);
}

describe('commons metrics, worked out by hand', () => {
  it('all greedy: everyone asks for 100, gets 20, and the stock collapses in round 1', async () => {
    const m = await run('commons', policy('greedy'), { rounds: 10 });
    expect(m.run.rounds_played).toBe(1);
    expect(m.run.status).toBe('completed');
    expect(m.macro.survival_rounds).toBe(1);
    expect(m.macro.efficiency).toBeCloseTo(100 / (50 * 10), 12);
    expect(m.macro.equality).toBe(1);
    expect(m.macro.overuse_rate).toBe(1);
    for (const name of m.run.agents) expect(m.agents[name]?.payoff).toBe(20);
  });

  it('all ask for 15: 75 of 100, then 50 shared five ways, collapse in round 2', async () => {
    const m = await run('commons', policy('constant', 15), { rounds: 10 });
    // Round 1: 15 each, 25 left, regrows to 50. Round 2: 75 asked of 50: 10 each, none left.
    expect(m.run.rounds_played).toBe(2);
    expect(m.macro.survival_rounds).toBe(2);
    expect(m.macro.efficiency).toBeCloseTo((75 + 50) / (50 * 10), 12);
    expect(m.macro.equality).toBe(1);
    expect(m.macro.overuse_rate).toBe(1);
    for (const name of m.run.agents) expect(m.agents[name]?.payoff).toBeCloseTo(25, 12);
  });

  it('all sustainable: the stock regrows to 100 every round and survives the horizon', async () => {
    const m = await run('commons', policy('sustainable'), { rounds: 7 });
    expect(m.run.rounds_played).toBe(7);
    expect(m.macro).toEqual({ survival_rounds: 7, efficiency: 1, equality: 1, overuse_rate: 0 });
    for (const name of m.run.agents) expect(m.agents[name]?.payoff).toBe(70);
  });

  it('one fisher takes 20, four take 5: unequal but sustainable', async () => {
    const m = await run(
      'commons',
      {
        fisher1: policy('constant', 20),
        fisher2: policy('constant', 5),
        fisher3: policy('constant', 5),
        fisher4: policy('constant', 5),
        fisher5: policy('constant', 5),
      },
      { rounds: 4 },
    );
    // 40 of 100 taken, 60 left, regrows to min(100, 120) = 100: the same every round.
    const totals = [80, 20, 20, 20, 20];
    expect(m.macro.survival_rounds).toBe(4);
    expect(m.macro.efficiency).toBeCloseTo(160 / (50 * 4), 12);
    expect(gini(totals)).toBeCloseTo(0.3, 12);
    expect(m.macro.equality).toBeCloseTo(1 - gini(totals), 12);
    expect(m.macro.overuse_rate).toBeCloseTo(1 / 5, 12);
    expect(m.run.agents.map((name) => m.agents[name]?.payoff)).toEqual(totals);
    expect(m.totals.payoff).toBe(160);
  });
});

describe('minimum_effort metrics, worked out by hand', () => {
  it('efforts 3 and 5: the minimum is 3 every round, below the payoff-dominant 7', async () => {
    const m = await run(
      'minimum_effort',
      { player1: policy('constant', 3), player2: policy('constant', 5) },
      { rounds: 4, params: { players: 2 } },
    );
    // Payoffs 0.6 + 0.2·3 − 0.1·3 = 0.9 and 0.6 + 0.6 − 0.5 = 0.7; best 2·(0.6 + 0.1·7) = 2.6.
    expect(m.macro.min_effort).toBe(3);
    expect(m.macro.coordination_failure).toBe(1);
    expect(m.macro.efficiency_loss).toBeCloseTo(1 - 1.6 / 2.6, 12);
    expect(m.agents.player1?.payoff).toBeCloseTo(4 * 0.9, 12);
    expect(m.agents.player2?.payoff).toBeCloseTo(4 * 0.7, 12);
  });
});

describe('minimum_effort convergence, worked out by hand', () => {
  it('a trigger player punishes a constant 5 from round 2: the minimum is 5, then 1 to the end', async () => {
    const m = await run(
      'minimum_effort',
      { player1: policy('trigger'), player2: policy('constant', 5) },
      { rounds: 5, params: { players: 2 } },
    );
    // Round 1: trigger cooperates at 7, minimum 5; from round 2 it punishes at 1 (the
    // other strayed from 7 every round), minimum 1. The minimum last changed in round 2.
    expect(m.macro.convergence_round).toBe(2);
    expect(m.macro.min_effort).toBeCloseTo((5 + 4 * 1) / 5, 12);
  });

  it('a minimum that never changes converged in round 1', async () => {
    const m = await run('minimum_effort', policy('constant', 4), { rounds: 6 });
    expect(m.macro.convergence_round).toBe(1);
  });
});

describe('an environment run is scored as it goes', () => {
  const library = () => compileSources([], stdlibSources(), { includeLibrary: true }).program;
  // One fisher over its share under a quota (the stock lasts): fines, sanctions, states.
  const experiment = () =>
    resolveExperiment(
      library(),
      {
        environment: 'commons',
        institution: 'harvest_quota',
        agents: 'given',
        params: [{ name: 'fishers', value: 4 }],
        rounds: 8,
        seed: 3,
      },
      () => ({
        all: policy('constant', 12),
        perFirm: { fisher1: policy('constant', 13) },
      }),
      stdlibSources(),
    );
  const recomputed = (dir: string) => {
    const ir = library().environments.find((e) => e.name === 'commons');
    if (!ir) throw new Error('the stdlib declares no commons');
    return computeEnvironmentMetrics(parseTrace(readFileSync(join(dir, 'events.jsonl'), 'utf8')), {
      ir,
      overrides: { fishers: 4 },
    });
  };

  it('metrics.json is what the whole trace gives, for a run played to the end and one stopped', async () => {
    const root = mkdtempSync(join(tmpdir(), 'mase-environment-fold-'));
    onTestFinished(() => rmSync(root, { recursive: true, force: true }));
    let asked = 0;
    await runToDirectory(experiment(), join(root, 'whole'));
    await runToDirectory(experiment(), join(root, 'stopped'), {
      shouldStop: () => (++asked > 5 ? 'interrupted' : undefined),
    });
    for (const name of ['whole', 'stopped']) {
      const dir = join(root, name);
      const written = JSON.parse(
        readFileSync(join(dir, 'metrics.json'), 'utf8'),
      ) as EnvironmentMetrics;
      expect(written).toEqual(JSON.parse(JSON.stringify(recomputed(dir))));
      expect(written.totals.fines).toBeGreaterThan(0);
      expect(written.run.rounds_played).toBe(name === 'whole' ? 8 : 5);
    }
  });
});

describe('metric values are clean numbers', () => {
  // A metric that is exactly zero but computed as −0 (0 times a negative number).
  const source = `mase 1
environment signed "A metric of negative zero" {
  param players = 2 "players"
  agents player = players
  action effort in [0, 1]
  payoff = effort
  metric flat = 0 * (0 - round) "zero, computed as 0 · (−round)"
}
`;
  it('a metric of −0 is reported as 0', async () => {
    const signed = { path: 'signed.mase', text: source };
    const compiled = compileSources([signed], stdlibSources(), { includeLibrary: true });
    expect(compiled.diagnostics).toEqual([]);
    const ir = compiled.program.environments.find((e) => e.name === 'signed');
    if (!ir) throw new Error('signed.mase declares no environment');
    const experiment = resolveExperiment(
      compiled.program,
      { environment: 'signed', agents: 'given', params: [], rounds: 2, seed: 1 },
      () => ({ all: policy('constant', 1), perFirm: {} }),
      [signed, ...stdlibSources()],
    );
    const dir = mkdtempSync(join(tmpdir(), 'mase-environment-signed-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    await runToDirectory(experiment, dir);
    const events = parseTrace(readFileSync(join(dir, 'events.jsonl'), 'utf8'));
    const macro = computeEnvironmentMetrics(events, { ir, overrides: {} }).macro;
    expect(
      Object.is(macro.flat, 0),
      `flat is ${Object.is(macro.flat, -0) ? '-0' : macro.flat}`,
    ).toBe(true);
  });
});

describe('messages kept from delivery in an environment run', () => {
  it('are counted on the account of the agent whose state kept them back, or the filtered sender', async () => {
    const { events: text } = await runEnvironment('minimum_effort', policy('constant', 7), {
      rounds: 2,
    });
    const blocked = (from: string, to: string[], agent: string | null) =>
      JSON.stringify({
        type: 'message_blocked',
        round: 1,
        talk_round: 1,
        from,
        to,
        cause: agent === null ? 'filter' : 'quarantine',
        agent,
        state: agent === null ? null : 'quarantined',
        text: 'CANARY',
      });
    // player2 quarantined: its own message and player1's part for it; a filter on player3.
    const lines = text.trimEnd().split('\n');
    lines.splice(
      2,
      0,
      blocked('player2', ['player1', 'player3'], 'player2'),
      blocked('player1', ['player2'], 'player2'),
      blocked('player3', ['player1'], null),
    );
    const ir = compileSources([], stdlibSources(), {
      includeLibrary: true,
    }).program.environments.find((e) => e.name === 'minimum_effort');
    if (!ir) throw new Error('the stdlib declares no minimum_effort');
    const m = computeEnvironmentMetrics(parseTrace(`${lines.join('\n')}\n`), {
      ir,
      overrides: {},
    });
    expect(m.run.agents.map((a) => m.agents[a]?.blocked_messages)).toEqual([0, 2, 1, 0]);
  });
});
