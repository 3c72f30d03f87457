import { describe, expect, it } from 'vitest';
// lookback is the compiler's internal bound on the history an expression reads.
import { lookback } from '../../../compiler/evaluate.js';
import {
  compileSources,
  type IrInstitution,
  natives,
  observablesFor,
  sizeOf,
} from '../../../compiler/index.js';
import {
  computeBenchmarks,
  InstitutionRuntime,
  instantiateMarket,
  marketGoverned,
  RoundObservables,
  randomStream,
  stdlibSources,
} from '../../../runtime/index.js';

/**
 * The institution runtime keeps only as many past rounds as its expressions can read, and
 * sends quiet rounds to its machines in batches. Both are optimisations: these tests drive
 * the runtime with the same market rounds as a runtime that keeps every round, and expect
 * the same effects, monitor values and states in every round.
 */

const source = `mase 1
institution windows "Windows, lags and offence history" {
  scope per firm
  public
  param width = 4
  monitor high = mean(quantity[self]) < 0.9 * mean(nash.quantity[self])
  monitor noisy = high detection 0.8 false_positive 0.1
  monitor persistent = count_last(noisy, width) >= 3
  monitor trend = mean_last(lag(mean(hhi), 2), width) < mean(hhi)
  monitor moved = moved_together(threshold: 0.05)
  initial state ok {
    when persistent and trend -> watched
    when moved for 2 rounds -> watched priority 1
  }
  state watched {
    notice "watched"
    each round fine max_last(profit[self], 3) * 0.1 + visits(watched)
    when persistent for 2 rounds -> capped
    after 3 rounds while not noisy -> ok restore
  }
  state capped {
    cap quantity[self] * 0.5
    credit rounds_since(ok)
    after 5 rounds -> ok restore
  }
}
`;

const compiled = compileSources([{ path: 'windows.mase', text: source }], stdlibSources());
const library = compileSources([], stdlibSources(), { includeLibrary: true }).program;

function setUp(ir: IrInstitution, keepAllRounds: boolean, perFirm = true, specialise = true) {
  const marketIr = library.markets.find((m) => m.name === 'cournot');
  if (!marketIr) throw new Error('stdlib cournot is missing');
  const market = instantiateMarket(marketIr, { firms: 3, costs: [10, 12, 14] });
  const benchmarks = computeBenchmarks(market);
  const runtime = new InstitutionRuntime(ir, market, benchmarks, {}, 7, {
    keepAllRounds,
    perFirm,
    specialise,
  });
  return { market, benchmarks, runtime };
}

type Runtime = ReturnType<typeof setUp>;

/**
 * Drives two runtimes of one institution through the same rounds — spells of Nash and of
 * collusive play, jittered — and expects the same limits, effects, monitor values and
 * states every round. Returns how many effects there were and the states visited.
 */
function driveAlike(
  a: Runtime,
  b: Runtime,
  rounds: number,
  spell: number,
  label: string,
): { effects: number; visited: Set<string> } {
  const { market, benchmarks } = a;
  const random = randomStream(5, 'test-actions');
  const F = market.dims.firms;
  const P = market.dims.products;
  let effects = 0;
  const visited = new Set<string>();
  for (let round = 1; round <= rounds; round++) {
    const colluding = Math.floor(round / spell) % 2 === 1;
    const base = colluding ? benchmarks.collusive.action : benchmarks.nash.action;
    const actions = new Float64Array(F * P);
    for (let k = 0; k < actions.length; k++)
      actions[k] = (base[k] ?? 0) * (0.85 + 0.3 * random.next());
    for (let i = 0; i < F; i++) {
      const limits = a.runtime.limits(i);
      expect(limits, `${label} round ${round}`).toEqual(b.runtime.limits(i));
      if (limits?.cap) actions[i * P] = Math.min(actions[i * P] ?? 0, limits.cap[0] ?? 0);
    }
    const outcome = market.clear(actions);
    const x = a.runtime.adjudicate(outcome, round);
    const y = b.runtime.adjudicate(outcome, round);
    expect(x.effects, `${label} round ${round}`).toEqual(y.effects);
    expect(a.runtime.monitorValues(x.monitors ?? [])).toEqual(
      b.runtime.monitorValues(y.monitors ?? []),
    );
    for (let i = 0; i < F; i++) {
      const state = a.runtime.stateOf(i) as string;
      expect(state).toBe(b.runtime.stateOf(i));
      visited.add(state);
    }
    effects += x.effects.length;
  }
  return { effects, visited };
}

describe('the institution runtime', () => {
  it('compiles the test institution', () => {
    expect(compiled.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  });

  it('reads windows, lags and offence history the same when it forgets old rounds', () => {
    const ir = compiled.program.institutions[0] as IrInstitution;
    // Spells of Nash play and of collusive play, so every state is entered and left.
    const { effects, visited } = driveAlike(setUp(ir, false), setUp(ir, true), 600, 37, 'trimmed');
    // Trimming only means something past the kept rounds, and with the machines busy.
    expect([...visited].sort()).toEqual(['capped', 'ok', 'watched']);
    expect(effects).toBeGreaterThan(50);
  });

  it('evaluates monitors for all firms at once exactly as machine by machine', () => {
    const mixed = compileSources(
      [
        {
          path: 'mixed.mase',
          text: `mase 1
institution mixed {
  scope per firm
  param limit = 1.05
  monitor above = profit[self] > limit * nash.profit[self]
  monitor noisy = above detection 0.7 false_positive 0.1
  monitor both = above and noisy
  monitor score = if above then profit[self] / nash.profit[self] else -revenue[self] / 100
  monitor shared = mean(hhi) > 1.02 * mean(nash.hhi)
  monitor evidence = score > 1.1 or shared
  initial state ok {
    when evidence for 2 rounds -> watched
    when both -> watched priority 1
  }
  state watched {
    notice "watched"
    each round fine max(0, score) * 10
    after 3 rounds while not above -> ok restore
  }
}
`,
        },
      ],
      stdlibSources(),
    );
    expect(mixed.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const institutions = [
      ...mixed.program.institutions,
      library.institutions.find((i) => i.name === 'governance_graph') as IrInstitution,
    ];
    expect(institutions.map((i) => i.name)).toEqual(['mixed', 'governance_graph']);
    for (const ir of institutions) {
      const lifted = setUp(ir, false, true);
      const machineByMachine = setUp(ir, false, false);
      expect([...machineByMachine.runtime.evaluatedPerFirm]).toEqual([]);
      expect([...lifted.runtime.evaluatedPerFirm].sort()).toEqual(
        ir.name === 'mixed' ? ['above', 'evidence', 'score'] : ['evidence'],
      );
      expect(
        driveAlike(lifted, machineByMachine, 300, 23, ir.name).effects,
        ir.name,
      ).toBeGreaterThan(20);
    }
  });

  it('evaluates with closures specialised to the market exactly as with general ones', () => {
    // Windows, lags, history, caps, noisy and per-firm monitors, and the stdlib's graph;
    // the specialised closures reuse their tensors, so a value kept without a copy, or a
    // window that read its value's reused tensor twice, would show here.
    const institutions = [
      compiled.program.institutions[0] as IrInstitution,
      ...['governance_graph', 'constitutional'].map(
        (name) => library.institutions.find((i) => i.name === name) as IrInstitution,
      ),
    ];
    for (const ir of institutions) {
      for (const perFirm of [true, false]) {
        const specialised = setUp(ir, false, perFirm, true);
        const general = setUp(ir, false, perFirm, false);
        const { effects } = driveAlike(specialised, general, 400, 29, `${ir.name}, ${perFirm}`);
        if (ir.states.length > 1) expect(effects, ir.name).toBeGreaterThan(20);
      }
    }
  });

  it('gives every observable the checker knows, with the type it gives', () => {
    for (const name of ['cournot_2x2', 'bertrand_logit']) {
      const marketIr = library.markets.find((m) => m.name === name);
      if (!marketIr) throw new Error(`stdlib ${name} is missing`);
      const market = instantiateMarket(marketIr, {});
      const benchmarks = computeBenchmarks(market);
      const outcome = market.clear(benchmarks.nash.action);
      const round = new RoundObservables(marketGoverned(market, benchmarks), outcome, 4, {
        texts: [['hi', 'there'], []],
      });
      for (const [observable, type] of observablesFor(market.competition)) {
        const t = round.get(observable);
        expect(t?.axes, `${name}: ${observable}`).toEqual(type.axes);
        expect(t?.data.length).toBe(sizeOf(type.axes, market.dims));
      }
      expect(round.get('round')?.data[0]).toBe(4);
      expect(Array.from(round.get('messages')?.data ?? [])).toEqual([2, 0]);
      expect(round.get('no_such_thing')).toBeUndefined();
    }
  });

  it('counts how far back each expression reads', () => {
    const ir = compiled.program.institutions[0] as IrInstitution;
    const params = new Map(ir.params.map((p) => [p.name, p.value]));
    const depth = (name: string) =>
      lookback(
        ir.monitors.find((m) => m.name === name)?.expr ?? ({ op: 'const', value: 0 } as never),
        params,
      );
    expect(depth('high')).toBe(0);
    expect(depth('persistent')).toBe(4);
    // mean_last over 4 rounds of a value that itself reads 2 rounds back.
    expect(depth('trend')).toBe(6);
    expect(depth('moved')).toBe(1);
    expect(lookback(ir.monitors[0]?.expr as never, new Map([['width', 9]]))).toBe(0);
  });

  it('natives read no further back than they declare', () => {
    const dims = { firms: 2, products: 2 };
    const tensor = { axes: ['firm', 'product'] as const, data: Float64Array.of(1, 2, 3, 4) };
    let checked = 0;
    for (const fn of natives.values()) {
      if (!fn.evaluate) continue;
      let deepest = 0;
      const info = {
        dims,
        observableAt: (_name: string, back: number) => {
          deepest = Math.max(deepest, back);
          return { axes: [...tensor.axes], data: tensor.data };
        },
        words: fn.params.map(() => 'word'),
        talkAt: (back: number) => {
          deepest = Math.max(deepest, back);
          return [['a word'], []];
        },
      };
      const args = fn.params.map(() => ({ axes: [], data: Float64Array.of(0.1) }));
      try {
        fn.evaluate(args, undefined, info);
      } catch {
        // Arguments of the wrong shape for this native: it read nothing we can count.
      }
      expect(deepest, fn.name).toBeLessThanOrEqual(fn.lookback ?? 0);
      checked++;
    }
    expect(checked).toBeGreaterThan(10);
  });
});
