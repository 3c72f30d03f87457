import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileSources, type IrPolicy } from '../../../compiler/index.js';
import {
  type Agent,
  computeMetrics,
  experimentDigest,
  Interruption,
  marketMetrics,
  parseTrace,
  type ResolvedExperiment,
  type RunHooks,
  type RunRequest,
  resolveExperiment,
  runExperiment,
  runToDirectory,
  stdlibSources,
  type TraceEvent,
  verifyRunDirectory,
} from '../../../runtime/index.js';
import { ESCALATING_CREDIT, escalatingCredit } from '../../support/escalating-credit.js';

const program = compileSources([], stdlibSources(), { includeLibrary: true }).program;
const policy = (name: string, ...args: number[]): IrPolicy => ({
  name,
  args: args.map((value) => ({ value })),
});

function experiment(options: {
  market?: string;
  institution?: string;
  agents: IrPolicy | Record<string, IrPolicy>;
  rounds?: number;
  seed?: number;
  params?: { name: string; value: number }[];
}): ResolvedExperiment {
  const resolved = resolveExperiment(
    program,
    {
      market: options.market ?? 'cournot_2x2',
      institution: options.institution ?? 'governance_graph',
      agents: 'given',
      params: options.params ?? [],
      rounds: options.rounds ?? 50,
      seed: options.seed ?? 1,
    },
    () =>
      'name' in options.agents
        ? { all: options.agents as IrPolicy, perFirm: {} }
        : { perFirm: options.agents as Record<string, IrPolicy> },
    stdlibSources(),
  );
  return resolved;
}

async function trace(e: ResolvedExperiment, agentFor?: RunHooks['agentFor']) {
  const events: TraceEvent[] = [];
  const result = await runExperiment(e, {
    onEvent: (x) => events.push(x),
    ...(agentFor ? { agentFor } : {}),
  });
  return { events, result };
}

const of = <T extends TraceEvent['type']>(events: readonly TraceEvent[], type: T) =>
  events.filter((e): e is Extract<TraceEvent, { type: T }> => e.type === type);

describe('the governed round loop', () => {
  it('warns, fines and suspends collusive firms exactly as the graph says', async () => {
    const { events } = await trace(experiment({ agents: policy('collusive'), rounds: 12 }));
    const f1 = of(events, 'transition').filter((t) => t.firm === 'f1');
    // Evidence every round: warned after 2 rounds, fined the next, suspended after 2 fined
    // rounds, back to fined after 2 suspended rounds (6–7), and again.
    expect(f1.map((t) => [t.round, t.from, t.to])).toEqual([
      [2, 'active', 'warning'],
      [3, 'warning', 'fined'],
      [5, 'fined', 'suspended'],
      [7, 'suspended', 'fined'],
      [9, 'fined', 'suspended'],
      [11, 'suspended', 'fined'],
    ]);
    const payoffs = of(events, 'payoff').filter((p) => p.firm === 'f1');
    expect(payoffs.map((p) => p.state)).toEqual([
      'active',
      'active',
      'warning',
      'fined',
      'fined',
      'suspended',
      'suspended',
      'fined',
      'fined',
      'suspended',
      'suspended',
      'fined',
    ]);
    // Suspended firms produce nothing; the clamp says why.
    const suspendedRound = of(events, 'market').find((m) => m.round === 6);
    expect(suspendedRound?.quantity).toEqual([
      [0, 0],
      [0, 0],
    ]);
    expect(
      of(events, 'clamp').some(
        (c) => c.round === 6 && c.cause === 'suspend' && c.state === 'suspended',
      ),
    ).toBe(true);
  });

  it('charges fines of max(200, 0.35 × profit) in rounds spent fined, and nets them from profit', async () => {
    const { events } = await trace(experiment({ agents: policy('collusive'), rounds: 12 }));
    const fines = of(events, 'sanction').filter((s) => s.firm === 'f1');
    // Fined during rounds 4, 5, 8, 9 and 12; collusive profit is 1800, so 0.35 × 1800 = 630.
    expect(fines.map((s) => [s.round, s.sanction, s.amount])).toEqual([
      [4, 'fine', 630],
      [5, 'fine', 630],
      [8, 'fine', 630],
      [9, 'fine', 630],
      [12, 'fine', 630],
    ]);
    for (const p of of(events, 'payoff')) {
      const logged = of(events, 'sanction')
        .filter((s) => s.round === p.round && s.firm === p.firm)
        .reduce((sum, s) => sum + (s.sanction === 'fine' ? -s.amount : s.amount), 0);
      expect(p.net).toBeCloseTo(p.profit + logged, 9);
      expect(p.fines - p.credits).toBeCloseTo(-logged, 9);
    }
  });

  it('restores firms that stop colluding, through a credit, back to active', async () => {
    // f1 and f2 collude for 4 rounds, then play Nash. Fined from round 3, they are
    // suspended in round 5 (evidence in rounds 4 and 5), for rounds 6 and 7; coming back
    // in round 8 is a synchronous move (evidence), so the two clean rounds are 9 and 10.
    const phased = (firm: number): Agent => ({
      policy: 'collude-then-nash',
      decide: (o) => {
        const P = o.market.dims.products;
        const source = o.round <= 4 ? o.benchmarks.collusive.action : o.benchmarks.nash.action;
        return Float64Array.from(source.subarray(firm * P, (firm + 1) * P));
      },
    });
    const { events } = await trace(experiment({ agents: policy('nash'), rounds: 12 }), (firm) =>
      phased(firm),
    );
    const f1 = of(events, 'transition').filter((t) => t.firm === 'f1');
    expect(f1.map((t) => [t.round, t.from, t.to, t.restorative])).toEqual([
      [2, 'active', 'warning', false],
      [3, 'warning', 'fined', false],
      [5, 'fined', 'suspended', false],
      [7, 'suspended', 'fined', true],
      [10, 'fined', 'credited', true],
      [11, 'credited', 'active', true],
    ]);
    const credit = of(events, 'sanction').find((s) => s.firm === 'f1' && s.sanction === 'credit');
    expect(credit).toMatchObject({ round: 10, amount: 100, timing: 'entry' });
  });

  it('never warns firms that play Nash for 50 rounds', async () => {
    const { events } = await trace(experiment({ agents: policy('nash'), rounds: 50 }));
    expect(of(events, 'transition')).toEqual([]);
    expect(of(events, 'sanction')).toEqual([]);
    expect(of(events, 'payoff').every((p) => p.state === 'active')).toBe(true);
  });

  it('does nothing at all under `none`', async () => {
    const { events } = await trace(
      experiment({ institution: 'none', agents: policy('collusive'), rounds: 20 }),
    );
    for (const type of ['transition', 'sanction', 'notice', 'clamp'] as const)
      expect(of(events, type)).toEqual([]);
    expect(of(events, 'payoff').every((p) => p.state === null && p.net === p.profit)).toBe(true);
  });

  it('lets an evader collude as far as the public thresholds allow, and no further', async () => {
    const { events } = await trace(experiment({ agents: policy('evader'), rounds: 30 }));
    expect(of(events, 'transition')).toEqual([]);
    const nash = of(events, 'benchmarks')[0]?.nash.profit.reduce((a, b) => a + b, 0) ?? 0;
    const last = of(events, 'market').at(-1);
    // It earns more than Nash without ever being warned: what the thresholds let through.
    expect((last?.profit ?? []).reduce((a, b) => a + b, 0)).toBeGreaterThan(nash + 1);
  });

  it('is a function of its inputs: the same experiment and seed give identical traces', async () => {
    const e = experiment({ agents: policy('qlearning'), rounds: 300, seed: 7 });
    const a = JSON.stringify((await trace(e)).events);
    const b = JSON.stringify((await trace(e)).events);
    expect(a).toBe(b);
    const other = JSON.stringify((await trace({ ...e, seed: 8 })).events);
    expect(other).not.toBe(a);
  });
});

/** The collusion index and the institution's entry rate of a run, from its trace (docs/metrics.md). */
async function scored(e: ResolvedExperiment) {
  const { events } = await trace(e);
  const m = computeMetrics(events);
  return { events, delta: m.macro.collusion_index ?? Number.NaN, entries: m.institution.entries };
}

describe('agents that fail', () => {
  const e = () => experiment({ agents: policy('nash'), institution: 'none', rounds: 3 });
  const nash = (firm: number, o: Parameters<Agent['decide']>[0]) =>
    o.benchmarks.nash.action.slice(firm * 2, firm * 2 + 2);

  it('fail the run only once every agent has answered, even when one fails at once', async () => {
    let slowDone = false;
    const agents = (firm: number): Agent => ({
      policy: firm === 0 ? 'slow' : 'broken',
      decide: (o) => {
        if (firm === 1) throw new Error('broken at once');
        return new Promise((resolve) =>
          setTimeout(() => {
            slowDone = true;
            resolve(nash(firm, o));
          }, 30),
        );
      },
    });
    await expect(trace(e(), agents)).rejects.toThrow('broken at once');
    expect(slowDone).toBe(true);
  });

  it('report the first failure in firm order, not the first in time', async () => {
    const agents = (firm: number): Agent => ({
      policy: 'failing',
      decide: () => {
        if (firm === 1) throw new Error('second firm, at once');
        return new Promise((_, reject) =>
          setTimeout(() => reject(new Error('first firm, later')), 20),
        );
      },
    });
    await expect(trace(e(), agents)).rejects.toThrow('first firm, later');
  });
});

describe('the past rounds a run keeps (Agent.lookBack)', () => {
  // A firm that answers what the other firm did two rounds back, and notes how many past
  // rounds it was shown: its trace depends on `history.at(-2)`.
  const lagged =
    (shown: number[][], lookBack?: number) =>
    (firm: number): Agent => ({
      policy: 'lagged',
      ...(lookBack === undefined ? {} : { lookBack }),
      decide: (o) => {
        shown[firm]?.push(o.history.length);
        const P = o.market.dims.products;
        const nash = o.benchmarks.nash.action.subarray(firm * P, (firm + 1) * P);
        const back = o.history.at(-2)?.actions.subarray((1 - firm) * P, (2 - firm) * P);
        return nash.map((q, k) => (back ? 0.5 * q + 0.6 * (back[k] ?? 0) : q));
      },
    });
  const ROUNDS = 300;
  const run = async (lookBacks: (number | undefined)[]) => {
    const shown: number[][] = [[], []];
    const { events } = await trace(
      experiment({ agents: policy('nash'), institution: 'none', rounds: ROUNDS }),
      (firm) => lagged(shown, lookBacks[firm])(firm),
    );
    return { events, shown };
  };

  it('keeps only the rounds the agents read when all say, with the same trace as keeping all', async () => {
    const all = await run([undefined, undefined]);
    const two = await run([2, 1]);
    expect(JSON.stringify(two.events)).toBe(JSON.stringify(all.events));
    expect(of(two.events, 'run_end')[0]?.rounds_completed).toBe(ROUNDS);
    // Every agent sees at least the two rounds it reads, and never a growing past.
    for (const shown of two.shown) {
      expect(shown).toHaveLength(ROUNDS);
      shown.forEach((n, r) => {
        expect(n).toBeGreaterThanOrEqual(Math.min(r, 2));
      });
      expect(Math.max(...shown)).toBeLessThan(25);
    }
    expect(Math.max(...(all.shown[0] ?? []))).toBe(ROUNDS - 1);
  });

  it('keeps every round when one agent does not say how many it reads', async () => {
    const mixed = await run([2, undefined]);
    expect(mixed.shown[0]?.at(-1)).toBe(ROUNDS - 1);
  });
});

describe('the calibrated governance graph (docs/metrics.md, "Calibrating governance_graph")', () => {
  it('holds two evaders to Δ ≤ 0.15 on cournot_2x2 over 2,000 rounds, without a sanction', async () => {
    const { events, delta } = await scored(
      experiment({ agents: policy('evader'), rounds: 2000, seed: 7 }),
    );
    // Before calibration the evaders sat at Δ 0.48: specialisation had to exceed Nash's by 100%.
    expect(delta).toBeLessThanOrEqual(0.15);
    expect(delta).toBeGreaterThan(0.1);
    expect(of(events, 'transition')).toEqual([]);
  });

  it.each([
    { agents: policy('nash'), seed: 1 },
    { agents: { name: 'noisy_nash', args: [] }, seed: 1 },
    { agents: { name: 'noisy_nash', args: [{ name: 'noise', value: 0.2 }] }, seed: 2 },
  ])(
    'enters a sanction state in under 5% of the firm-rounds of $agents.name play (seed $seed)',
    async ({ agents, seed }) => {
      const { entries } = await scored(experiment({ agents, rounds: 1000, seed }));
      expect(entries.firm_rounds).toBe(2000);
      expect(entries.rate).toBeLessThan(0.05);
    },
  );

  it('does not hold a suspended rival against a firm: market-wide evidence needs every firm producing', async () => {
    const { events } = await trace(
      experiment({ agents: { f1: policy('collusive'), f2: policy('nash') }, rounds: 60 }),
    );
    expect(of(events, 'transition').some((t) => t.firm === 'f1' && t.to === 'suspended')).toBe(
      true,
    );
    // While f1 is suspended f2 sells alone (HHI 10,000), yet f2 is never warned.
    expect(of(events, 'transition').filter((t) => t.firm === 'f2')).toEqual([]);
  });
});

describe('the horizon', () => {
  it('tells agents the number of rounds only when it is known and fixed', async () => {
    const seen: (number | undefined)[] = [];
    const spy = (): Agent => ({
      policy: 'spy',
      decide: (o) => {
        seen.push(o.horizon);
        return Float64Array.from(o.benchmarks.nash.action.subarray(0, o.market.dims.products));
      },
    });
    const known = experiment({ agents: policy('nash'), rounds: 3 });
    await trace(known, (firm) => (firm === 0 ? spy() : undefined));
    await trace({ ...known, horizonKnown: false }, (firm) => (firm === 0 ? spy() : undefined));
    expect(seen).toEqual([3, 3, 3, undefined, undefined, undefined]);
  });

  it('stops at random with the continuation probability, the same way for the same seed', async () => {
    const lengths = async (seed: number) => {
      const e = {
        ...experiment({ institution: 'none', agents: policy('nash'), rounds: 1000, seed }),
        continuation: 0.9,
      };
      return (await trace(e)).result.roundsCompleted;
    };
    const runs = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map(lengths));
    expect(await lengths(1)).toBe(runs[0]);
    // Geometric lengths with mean 10: all short of the cap, and not all equal.
    expect(runs.every((n) => n >= 1 && n < 1000)).toBe(true);
    expect(new Set(runs).size).toBeGreaterThan(1);
  });

  it('takes the horizon and the continuation from the experiment, and the flags over them', () => {
    const text = `mase 1
experiment shadow {
  market cournot_2x2
  agents nash
  rounds 400
  horizon unknown
  continuation 0.95
}
experiment plain {
  market cournot_2x2
  agents nash
}
`;
    const compiled = compileSources([{ path: 'h.mase', text }], stdlibSources(), {
      includeLibrary: true,
    });
    expect(compiled.ok).toBe(true);
    const resolve = (request: Partial<RunRequest>) =>
      resolveExperiment(
        compiled.program,
        { params: [], ...request },
        () => ({ all: policy('nash'), perFirm: {} }),
        stdlibSources(),
      );
    const shadow = resolve({ experiment: 'shadow' });
    expect([shadow.horizonKnown, shadow.continuation]).toEqual([false, 0.95]);
    const flagged = resolve({ experiment: 'shadow', horizonKnown: true, continuation: 0.5 });
    expect([flagged.horizonKnown, flagged.continuation]).toEqual([true, 0.5]);
    const plain = resolve({ experiment: 'plain' });
    expect([plain.horizonKnown, plain.continuation]).toEqual([true, undefined]);
    // Two runs that differ only in the declared horizon are different runs.
    expect(experimentDigest(shadow)).not.toBe(experimentDigest({ ...shadow, horizonKnown: true }));
  });
});

describe('run artifacts', () => {
  let dir: string;
  const home = mkdtempSync(join(tmpdir(), 'mase-home-'));
  beforeAll(() => {
    process.env.MASE_HOME = home;
    dir = mkdtempSync(join(tmpdir(), 'mase-run-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });

  it('writes a manifest, a typed trace, a verifiable governance log and metrics', async () => {
    const out = join(dir, 'a');
    const e = experiment({ agents: policy('collusive'), rounds: 20 });
    const { metrics } = await runToDirectory(e, out);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(manifest.status).toBe('completed');
    expect(manifest.sources.length).toBeGreaterThan(0);
    const events = parseTrace(readFileSync(join(out, 'events.jsonl'), 'utf8'));
    expect(events[0]?.type).toBe('header');
    expect(events.at(-1)).toMatchObject({
      type: 'run_end',
      status: 'completed',
      rounds_completed: 20,
    });
    expect(verifyRunDirectory(out)).toMatchObject({ ok: true });
    const onDisk = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    expect(onDisk.macro.tier).toBe(metrics.macro.tier);
    expect(onDisk.benchmarks.collusive.profit).toEqual([1800, 1800]);
    expect(onDisk.agents.f1.fines).toBeGreaterThan(0);
  });

  it('writes byte-identical traces for the same inputs, in different directories', async () => {
    const e = experiment({
      agents: { f1: policy('qlearning'), f2: policy('random') },
      rounds: 200,
      seed: 3,
    });
    await runToDirectory(e, join(dir, 'b'));
    await runToDirectory(e, join(dir, 'c'));
    expect(readFileSync(join(dir, 'c', 'events.jsonl'), 'utf8')).toBe(
      readFileSync(join(dir, 'b', 'events.jsonl'), 'utf8'),
    );
  });

  it('a second signal after the run has ended leaves its sealed manifest as it is', async () => {
    // The race CI met once: SIGTERM ends the run gracefully (sealed log, sealed manifest),
    // and a second SIGTERM 5 ms later used to rewrite manifest.json, breaking its MAC.
    const out = join(dir, 'signals');
    const exits: number[] = [];
    const interruption = new Interruption(() => {}, ((code: number) => {
      exits.push(code);
    }) as (code: number) => never);
    try {
      await runToDirectory(experiment({ agents: policy('collusive'), rounds: 5 }), out, {
        interruption,
      });
      expect(verifyRunDirectory(out).ok).toBe(true);
      process.emit('SIGTERM', 'SIGTERM');
      process.emit('SIGTERM', 'SIGTERM');
    } finally {
      interruption.dispose();
    }
    expect(exits).toEqual([143]);
    expect(verifyRunDirectory(out)).toMatchObject({ ok: true });
    expect(JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')).status).toBe('completed');
  });

  it('hands each round to the file when it ends, in whole lines', async () => {
    const out = join(dir, 'd');
    const seen: { round: number; last: TraceEvent | undefined; rounds: Set<number> }[] = [];
    await runToDirectory(experiment({ agents: policy('collusive'), rounds: 12 }), out, {
      onRoundEnd: (round) => {
        const events = parseTrace(readFileSync(join(out, 'events.jsonl'), 'utf8'));
        const rounds = new Set(events.flatMap((e) => ('round' in e ? [e.round] : [])));
        seen.push({ round, last: events.at(-1), rounds });
      },
    });
    expect(seen.map((s) => s.round)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    for (const { round, last, rounds } of seen) {
      // Everything up to this round is readable, and nothing of the next round is there yet.
      expect([...rounds].sort((a, b) => a - b)).toEqual(
        Array.from({ length: round }, (_, i) => i + 1),
      );
      expect(last).toMatchObject({ type: 'payoff', round });
    }
  });

  it('traces the monitors once per round: shared values, and one value per firm', async () => {
    const { events } = await trace(experiment({ agents: policy('collusive'), rounds: 6 }));
    const monitors = of(events, 'monitors');
    expect(monitors.map((m) => m.round)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const m of monitors) {
      expect(Object.keys(m.values).sort()).toEqual([
        'all_producing',
        'dispersion_collapse',
        'hhi_excess',
        'specialisation',
        'synchronous',
      ]);
      expect(Object.keys(m.by_firm)).toEqual(['evidence']);
      expect(m.by_firm.evidence).toHaveLength(2);
    }
    // Full market division: both firms' evidence holds from the first round.
    expect(monitors[0]?.by_firm.evidence).toEqual([1, 1]);
  });

  it('draws the same report from memory at the end of a run as from its files', async () => {
    const out = join(dir, 'e');
    await runToDirectory(experiment({ agents: policy('collusive'), rounds: 30 }), out);
    const fromMemory = readFileSync(join(out, 'report.html'), 'utf8');
    const { writeRunReport } = await import('../../../runtime/index.js');
    const fromFiles = readFileSync(await writeRunReport(out), 'utf8');
    // Apart from the time it was drawn, and Vega's clip-path ids (a counter per process).
    const timeless = (page: string) =>
      page
        .replaceAll(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, 'TIME')
        .replaceAll(/clip\d+/g, 'clip');
    expect(fromMemory.length).toBeGreaterThan(10_000);
    expect(timeless(fromMemory)).toBe(timeless(fromFiles));
  });

  it('refuses a directory that already holds a run', async () => {
    await expect(
      runToDirectory(experiment({ agents: policy('nash'), rounds: 2 }), join(dir, 'a')),
    ).rejects.toThrow(/not empty/);
  });

  describe('the escalating credit of issue 11', () => {
    // A Q-learning f1 beside a Nash f2: f1's exploring play is fined, a few clean rounds
    // take it to `credited`, and from there it is sometimes restored to `active` and
    // sometimes escalated straight back to `warning`.
    async function run(notice: boolean, out: string) {
      const source = escalatingCredit({ notice });
      const sources = [...stdlibSources(), source];
      const withFixture = compileSources([source], stdlibSources(), {
        includeLibrary: true,
      }).program;
      const e = resolveExperiment(
        withFixture,
        {
          market: 'cournot_2x2',
          institution: ESCALATING_CREDIT,
          agents: 'given',
          params: [],
          rounds: 60,
          seed: 1,
        },
        () => ({ perFirm: { f1: policy('qlearning'), f2: policy('nash') } }),
        sources,
      );
      const { metrics } = await runToDirectory(e, join(dir, out));
      const events = parseTrace(readFileSync(join(dir, out, 'events.jsonl'), 'utf8'));
      return { metrics: marketMetrics(metrics), events, transitions: of(events, 'transition') };
    }
    /** The graph's restorations, read off its source: `restore`, and `after` edges citing R1. */
    const RESTORATIONS = [
      'suspended->fined',
      'fined->credited',
      'credited->active',
      'warning->active',
    ];
    const isRestoration = (t: { from: string; to: string }) =>
      RESTORATIONS.includes(`${t.from}->${t.to}`);

    it('does not count the escalation out of `credited` as a restoration', async () => {
      const { metrics, transitions } = await run(false, 'plain');
      const escalations = transitions.filter((t) => t.from === 'credited' && t.to === 'warning');
      expect(escalations.length).toBeGreaterThan(0);
      expect(transitions.some((t) => t.from === 'credited' && t.to === 'active')).toBe(true);
      expect(escalations.every((t) => !t.restorative)).toBe(true);
      const onDisk = JSON.parse(readFileSync(join(dir, 'plain', 'metrics.json'), 'utf8'));
      expect(onDisk.institution.restorations).toBe(transitions.filter(isRestoration).length);
      for (const firm of ['f1', 'f2']) {
        expect(metrics.agents[firm]?.restorations).toBe(
          transitions.filter((t) => t.firm === firm && isRestoration(t)).length,
        );
      }
    });

    it('does not make `credited` a sanction state when it sends a notice', async () => {
      const { metrics, events } = await run(true, 'notice');
      expect(of(events, 'notice').some((n) => n.state === 'credited')).toBe(true);
      expect([...metrics.institution.sanction_states].sort()).toEqual([
        'fined',
        'suspended',
        'warning',
      ]);
      // Inferred from the trace alone, as for a trace scored offline, it agrees.
      const inferred = computeMetrics(events).institution;
      expect(inferred.sanction_states_source).toBe('inferred');
      expect(inferred.sanction_states).not.toContain('credited');
    });
  });
});
