import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileSources, type IrFactor, type IrSweep } from '../../../compiler/index.js';
import {
  applyCell,
  designCells,
  experimentDigest,
  planSweep,
  replicateSeed,
  stdlibSources,
} from '../../../runtime/index.js';

/**
 * Planning a sweep: the design's cells, the base experiment with each cell applied, the
 * seeds (common random numbers: replicate r has the same seed in every cell) and the
 * content-addressed run ids. Sweeps are built as IR here, so these tests need no parser.
 */

const source = {
  path: 'base.mase',
  text: `mase 1
experiment base "2x2 under the graph" {
  market cournot_2x2(intercept: 110)
  institution governance_graph(fine_share: 0.5)
  agents qlearning
  agents f2 = nash
  rounds 40
  seed 3
}
`,
};
const compiled = compileSources([source], stdlibSources(), { includeLibrary: true });
const sources = [source, ...stdlibSources()];
const base = compiled.program.experiments.find((e) => e.name === 'base');

const regime: IrFactor = {
  name: 'regime',
  target: { kind: 'institution' },
  levels: [
    { kind: 'ref', ref: { name: 'none', args: [] } },
    { kind: 'ref', ref: { name: 'governance_graph', args: [] } },
    { kind: 'ref', ref: { name: 'governance_graph', args: [{ name: 'persistence', value: 2 }] } },
  ],
};
const rounds: IrFactor = {
  name: 'rounds',
  target: { kind: 'rounds' },
  levels: [
    { kind: 'value', value: 20 },
    { kind: 'value', value: 30 },
  ],
};

function sweep(overrides: Partial<IrSweep> = {}): IrSweep {
  return {
    kind: 'sweep',
    name: 's',
    title: 's',
    path: 'base.mase',
    base: 'base',
    factors: [regime, rounds],
    design: { kind: 'grid' },
    replicates: 2,
    seed: 11,
    ...overrides,
  };
}

describe('planning a sweep', () => {
  it('compiles the base experiment', () => {
    expect(compiled.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(base).toBeDefined();
  });

  it('crosses every level in a grid, cell-major, replicates inside cells', () => {
    const plan = planSweep(compiled.program, sweep(), sources);
    expect(plan.cells).toBe(6);
    expect(plan.runs).toHaveLength(12);
    expect(plan.factorOrder).toEqual(['regime', 'rounds']);
    expect(plan.runs.map((r) => [r.cell, r.replicate])).toEqual(
      Array.from({ length: 6 }, (_, c) => [
        [c, 0],
        [c, 1],
      ]).flat(),
    );
    expect(plan.runs.map((r) => r.factors).filter((_, i) => i % 2 === 0)).toEqual([
      { regime: 'none', rounds: 20 },
      { regime: 'none', rounds: 30 },
      { regime: 'governance_graph', rounds: 20 },
      { regime: 'governance_graph', rounds: 30 },
      { regime: 'governance_graph(persistence: 2)', rounds: 20 },
      { regime: 'governance_graph(persistence: 2)', rounds: 30 },
    ]);
  });

  it('gives replicate r the same seed in every cell, derived from the sweep seed', () => {
    const plan = planSweep(compiled.program, sweep(), sources);
    for (const run of plan.runs) {
      expect(run.seed).toBe(replicateSeed(11, run.replicate));
      expect(run.experiment.seed).toBe(run.seed);
    }
    expect(replicateSeed(11, 0)).not.toBe(replicateSeed(11, 1));
    expect(replicateSeed(11, 0)).not.toBe(replicateSeed(12, 0));
    // A cell re-planned alone has the same runs (ids and seeds) as in the whole sweep.
    const alone = planSweep(
      compiled.program,
      sweep({ factors: [{ ...regime, levels: regime.levels?.slice(2, 3) }, rounds] }),
      sources,
    );
    const whole = planSweep(compiled.program, sweep(), sources);
    expect(alone.runs.map((r) => r.runId)).toEqual(whole.runs.slice(8).map((r) => r.runId));
  });

  it('applies levels as the base experiment would be edited by hand', () => {
    if (!base) throw new Error('no base');
    const [none, graph, graph2] = regime.levels ?? [];
    const keep = applyCell(base, [regime], [graph as never]);
    // The base's own institution, named without arguments, keeps the base's overrides.
    expect(keep.institution).toEqual({
      name: 'governance_graph',
      overrides: { fine_share: 0.5 },
    });
    expect(applyCell(base, [regime], [graph2 as never]).institution).toEqual({
      name: 'governance_graph',
      overrides: { persistence: 2 },
    });
    expect(applyCell(base, [regime], [none as never]).institution).toEqual({
      name: 'none',
      overrides: {},
    });
    // Every firm's policy replaces the per-firm ones; one firm's replaces only its own.
    const everyone = applyCell(
      base,
      [{ name: 'agents', target: { kind: 'agents' } }],
      [{ kind: 'ref', ref: { name: 'collusive', args: [] } }],
    );
    expect(everyone.agents).toEqual({ all: { name: 'collusive', args: [] }, perFirm: {} });
    const one = applyCell(
      base,
      [{ name: 'f1', target: { kind: 'agents', firm: 'f1' } }],
      [{ kind: 'ref', ref: { name: 'llm', args: [{ name: 'model', value: 'local' }] } }],
    );
    expect(one.agents.perFirm).toEqual({
      f1: { name: 'llm', args: [{ name: 'model', value: 'local' }] },
      f2: { name: 'nash', args: [] },
    });
    // A per-firm level wins over an every-firm one, in either order.
    const f1: IrFactor = { name: 'f1', target: { kind: 'agents', firm: 'f1' } };
    const all: IrFactor = { name: 'all', target: { kind: 'agents' } };
    const nash = { kind: 'ref' as const, ref: { name: 'nash', args: [] } };
    const trigger = { kind: 'ref' as const, ref: { name: 'trigger', args: [] } };
    for (const [factors, cell] of [
      [
        [f1, all],
        [nash, trigger],
      ],
      [
        [all, f1],
        [trigger, nash],
      ],
    ] as const) {
      expect(applyCell(base, factors, cell).agents).toEqual({
        all: { name: 'trigger', args: [] },
        perFirm: { f1: { name: 'nash', args: [] } },
      });
    }
    // Memory reaches every llm policy and nothing else.
    const memory = applyCell(
      one,
      [{ name: 'memory', target: { kind: 'memory' } }],
      [{ kind: 'value', value: 5 }],
    );
    expect(memory.agents.perFirm.f1?.args).toEqual([
      { name: 'model', value: 'local' },
      { name: 'memory', value: 5 },
    ]);
    expect(memory.agents.perFirm.f2).toEqual({ name: 'nash', args: [] });
    // Parameters, horizon, continuation and talk.
    const rest = applyCell(
      base,
      [
        { name: 'a', target: { kind: 'param', owner: 'market', name: 'intercept' } },
        { name: 'h', target: { kind: 'horizon' } },
        { name: 'c', target: { kind: 'continuation' } },
        { name: 't', target: { kind: 'talk' } },
      ],
      [
        { kind: 'value', value: 90 },
        { kind: 'value', value: 'unknown' },
        { kind: 'value', value: 0.95 },
        { kind: 'ref', ref: { name: 'ring', args: [] } },
      ],
    );
    expect(rest.market.overrides).toEqual({ intercept: 90 });
    expect(rest.horizon).toBe('unknown');
    expect(rest.continuation).toBe(0.95);
    expect(rest.talk).toEqual({ name: 'ring', args: [] });
  });

  it('gives every run its own id, a function of what runs and its cell, stable across plannings', () => {
    const a = planSweep(compiled.program, sweep(), sources);
    const b = planSweep(compiled.program, sweep({ name: 'renamed', title: 'other' }), sources);
    expect(new Set(a.runs.map((r) => r.runId)).size).toBe(a.runs.length);
    expect(b.runs.map((r) => r.runId)).toEqual(a.runs.map((r) => r.runId));
    // What runs is the resolved experiment of `mase run` with that seed.
    const first = a.runs[0];
    expect(first?.experiment.institution.name).toBe('none');
    expect(first?.experiment.rounds).toBe(20);
    expect(experimentDigest(first?.experiment as never)).toMatch(/^[0-9a-f]{64}$/);
    // A different sweep seed changes the seeds, hence every id.
    const c = planSweep(compiled.program, sweep({ seed: 12 }), sources);
    expect(c.runs.some((r) => a.runs.some((x) => x.runId === r.runId))).toBe(false);
  });

  it('stratifies a Latin hypercube: each factor has one point in each of n strata', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 1000 }), (n, seed) => {
        const cells = designCells(
          sweep({
            seed,
            design: { kind: 'latin_hypercube', points: n },
            factors: [
              {
                name: 'share',
                target: { kind: 'param', owner: 'institution', name: 'fine_share' },
                range: { low: 0.1, high: 0.6, integer: false },
              },
              {
                name: 'rounds',
                target: { kind: 'rounds' },
                range: { low: 10, high: 10 + n * 10, integer: true },
              },
            ],
          }),
        );
        expect(cells).toHaveLength(n);
        const strata = (values: number[], low: number, high: number) =>
          values
            .map((v) => Math.min(n - 1, Math.floor(((v - low) / (high - low)) * n)))
            .sort((x, y) => x - y);
        const share = cells.map((c) => (c[0] as { value: number }).value);
        expect(strata(share, 0.1, 0.6)).toEqual(Array.from({ length: n }, (_, i) => i));
        for (const c of cells) {
          const r = (c[1] as { value: number }).value;
          expect(Number.isInteger(r) && r >= 10 && r <= 10 + n * 10).toBe(true);
        }
        // The same seed draws the same design.
        expect(
          designCells(
            sweep({ seed, design: { kind: 'latin_hypercube', points: n }, factors: [regime] }),
          ),
        ).toEqual(
          designCells(
            sweep({ seed, design: { kind: 'latin_hypercube', points: n }, factors: [regime] }),
          ),
        );
      }),
      { numRuns: 60 },
    );
  });

  it('gives every whole number of a range an equal share, its ends included', () => {
    const memory: IrFactor = {
      name: 'memory',
      target: { kind: 'memory' },
      range: { low: 0, high: 3, integer: true },
    };
    const tally = (design: IrSweep['design']) => {
      const values = designCells(sweep({ design, factors: [memory] })).map(
        ([level]) => (level as { value: number }).value,
      );
      return [0, 1, 2, 3].map((v) => values.filter((x) => x === v).length);
    };
    // A Latin hypercube of 400 points puts exactly 100 in each quarter, hence on each value.
    expect(tally({ kind: 'latin_hypercube', points: 400 })).toEqual([100, 100, 100, 100]);
    for (const n of tally({ kind: 'random', points: 4000 }))
      expect(Math.abs(n - 1000)).toBeLessThan(120);
  });

  it('writes levels as source text, infinity included', () => {
    const capped: IrFactor = {
      name: 'regime',
      target: { kind: 'institution' },
      levels: [
        {
          kind: 'ref',
          ref: {
            name: 'governance_graph',
            args: [{ name: 'fine_floor', value: Number.POSITIVE_INFINITY }],
          },
        },
      ],
    };
    const plan = planSweep(compiled.program, sweep({ factors: [capped] }), sources);
    expect(plan.runs[0]?.factors).toEqual({ regime: 'governance_graph(fine_floor: inf)' });
  });

  it('draws random designs from the sweep seed, within ranges and among levels', () => {
    const design = { kind: 'random' as const, points: 25 };
    const factors: IrFactor[] = [
      regime,
      {
        name: 'c',
        target: { kind: 'continuation' },
        range: { low: 0.9, high: 0.99, integer: false },
      },
    ];
    const a = designCells(sweep({ design, factors }));
    expect(a).toEqual(designCells(sweep({ design, factors })));
    expect(a).not.toEqual(designCells(sweep({ design, factors, seed: 99 })));
    for (const [level, c] of a) {
      expect(regime.levels).toContainEqual(level);
      const x = (c as { value: number }).value;
      expect(x >= 0.9 && x < 0.99).toBe(true);
    }
  });

  it('runs a cell a random design draws again once, and counts it apart', () => {
    // Eight draws among three regimes must repeat some.
    const design = { kind: 'random' as const, points: 8 };
    const drawn = designCells(sweep({ design, factors: [regime] }));
    const distinct = new Set(drawn.map((cell) => JSON.stringify(cell))).size;
    expect(distinct).toBeLessThan(drawn.length);
    const plan = planSweep(compiled.program, sweep({ design, factors: [regime] }), sources);
    expect(plan.cells).toBe(distinct);
    expect(plan.repeatedCells).toBe(drawn.length - distinct);
    expect(plan.runs.length).toBe(distinct * plan.sweep.replicates);
    expect(new Set(plan.runs.map((r) => r.runId)).size).toBe(plan.runs.length);
  });

  it('applies a parameter level only where the cell declares it, and checks each cell whole', () => {
    const withShare: IrFactor = {
      name: 'share',
      target: { kind: 'param', owner: 'institution', name: 'fine_share' },
      levels: [
        { kind: 'value', value: 0.2 },
        { kind: 'value', value: 0.4 },
      ],
    };
    const plan = planSweep(
      compiled.program,
      sweep({
        factors: [{ ...regime, levels: regime.levels?.slice(0, 2) }, withShare],
        replicates: 1,
      }),
      sources,
    );
    const overrides = plan.runs.map((r) => [r.factors, r.experiment.institutionOverrides]);
    expect(overrides).toEqual([
      [{ regime: 'none', share: 0.2 }, {}],
      [{ regime: 'none', share: 0.4 }, {}],
      [{ regime: 'governance_graph', share: 0.2 }, { fine_share: 0.2 }],
      [{ regime: 'governance_graph', share: 0.4 }, { fine_share: 0.4 }],
    ]);
    // Two rows for the two `none` cells, each paired with its governed neighbour.
    expect(new Set(plan.runs.map((r) => r.runId)).size).toBe(4);
    // Costs per firm and product fit cournot_2x2's two firms; a cell that gives a list of
    // the wrong length is refused before anything runs, naming the cell.
    const costs: IrFactor = {
      name: 'costs',
      target: { kind: 'param', owner: 'market', name: 'costs' },
      levels: [
        {
          kind: 'value',
          value: [
            [40, 50],
            [50, 40],
            [45, 45],
          ],
        },
      ],
    };
    expect(() => planSweep(compiled.program, sweep({ factors: [costs] }), sources)).toThrow(
      /sweep s, cell 0 \(costs = \[\[40, 50\], \[50, 40\], \[45, 45\]\]\): .*costs/,
    );
  });

  it('says which cell cannot run, and why', () => {
    expect(() =>
      planSweep(
        compiled.program,
        sweep({
          factors: [
            {
              name: 'regime',
              target: { kind: 'institution' },
              levels: [{ kind: 'ref', ref: { name: 'no_such_regime', args: [] } }],
            },
          ],
        }),
        sources,
      ),
    ).toThrow(/sweep s, cell 0 \(regime = no_such_regime\): no institution `no_such_regime`/);
    expect(() => planSweep(compiled.program, sweep({ base: 'nope' }), sources)).toThrow(
      /no experiment `nope`/,
    );
  });
});
