import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { initialTransition, type SnapshotFrom, transition } from 'xstate';
import {
  compileExpression,
  compileSources,
  createInstitutionMachine,
  type EvaluationEnvironment,
  type InstitutionContext,
  type InstitutionMachine,
  type IrExpr,
  type IrInstitution,
  machineConfig,
  type ParamValue,
  paramTensor,
  paramValues,
  renderExpr,
  scalarTensor,
  type Tensor,
  tensorFrom,
} from '../../../compiler/index.js';

/**
 * Behaviour of compiled institution machines, driven round by round the way the runtime
 * drives them: evaluate each transition's condition from the round's evidence, send one
 * `round` event with the results, and read the notices and sanctions `transition()`
 * returns. Every expected value below is worked out from the source text by hand.
 */

const stdlib = join(dirname(fileURLToPath(import.meta.url)), '../../../stdlib');
const dims = { firms: 2, products: 2 };

function compiled(text: string, path = 'test.mase'): IrInstitution {
  const result = compileSources([{ path, text }]);
  expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  const institution = result.program.institutions[0];
  if (!institution) throw new Error(`${path} declares no institution`);
  return institution;
}

/** One firm's round as the test scripts it: monitor truth values and, optionally, profits. */
interface RoundInput {
  readonly monitors: Readonly<Record<string, boolean>>;
  readonly profit?: readonly number[];
}

/** What happened in one round: the state the firm spent it in, where it went, and the effects. */
interface Step {
  readonly round: number;
  readonly during: string;
  readonly next: string;
  readonly effects: readonly string[];
}

interface Run {
  readonly steps: readonly Step[];
  readonly initialEffects: readonly string[];
  readonly context: InstitutionContext;
}

/**
 * An environment for one round of firm 0. Monitors come from the script (an unknown name
 * throws, so a typo in a test cannot silently read false); history reads the machine's
 * context as it stood before the round: `rounds_since` counts from the latest entry to
 * the round being adjudicated, and is infinite for a state never entered.
 */
function environment(
  institution: IrInstitution,
  params: ReadonlyMap<string, ParamValue>,
  input: RoundInput,
  round: number,
  context: InstitutionContext,
): EvaluationEnvironment {
  return {
    dims,
    self: 0,
    roundsAvailable: 1,
    param: (name) => {
      const declared = institution.params.find((p) => p.name === name);
      if (!declared) throw new Error(`no parameter ${name}`);
      const tensor = paramTensor(declared.type, params.get(name) ?? declared.value, dims);
      if (typeof tensor === 'string') throw new Error(`parameter ${name} ${tensor}`);
      return tensor;
    },
    firmIndex: () => -1,
    productIndex: () => -1,
    observable: (name) => {
      if (name === 'profit' && input.profit) return tensorFrom(['firm'], input.profit);
      throw new Error(`the script provides no observable ${name}`);
    },
    benchmark: (benchmark, name) => {
      throw new Error(`the script provides no benchmark ${benchmark}.${name}`);
    },
    monitor: (name) => {
      const value = input.monitors[name];
      if (value === undefined) throw new Error(`the script provides no monitor ${name}`);
      return scalarTensor(value ? 1 : 0);
    },
    history: {
      visits: (state) => context.visits[state] ?? 0,
      roundsSince: (state) => {
        const entered = context.lastEntered[state];
        return entered === undefined ? Number.POSITIVE_INFINITY : round - entered;
      },
      // The context counts completed rounds; the round being adjudicated is one more.
      roundsInState: () => context.roundsInState + 1,
    },
  };
}

function evaluate(expr: IrExpr, env: EvaluationEnvironment): number {
  const value: Tensor = compileExpression(expr)(env);
  expect(value.axes).toEqual([]);
  return value.data[0] ?? Number.NaN;
}

/** Notices as `notice STATE`, sanctions as `fine 350 each round` / `credit 100 on entry`. */
function describeEffects(
  actions: readonly { type: string; params?: unknown }[],
  institution: IrInstitution,
  env: EvaluationEnvironment,
): string[] {
  const effects: string[] = [];
  for (const action of actions) {
    if (action.type === 'mase.notice') {
      const p = action.params as { state: string; text: string };
      const state = institution.states.find((s) => s.name === p.state);
      expect(state?.notices).toContain(p.text);
      effects.push(`notice ${p.state}`);
    } else if (action.type === 'mase.sanction') {
      const p = action.params as {
        state: string;
        index: number;
        sanction: string;
        timing: string;
        amount: string;
      };
      const sanction = institution.states.find((s) => s.name === p.state)?.sanctions[p.index];
      if (!sanction) throw new Error(`no sanction ${p.state}[${p.index}]`);
      // The machine shows the amount with the (default) parameter values written in.
      expect(p.amount).toBe(renderExpr(sanction.amount, paramValues(institution.params)));
      expect(p.sanction).toBe(sanction.sanction);
      expect(p.timing).toBe(sanction.timing);
      const amount = evaluate(sanction.amount, env);
      effects.push(
        `${p.sanction} ${amount} ${p.timing === 'each_round' ? 'each round' : 'on entry'} (${p.state})`,
      );
    } else {
      effects.push(action.type);
    }
  }
  return effects;
}

function run(
  institution: IrInstitution,
  script: readonly RoundInput[],
  params: ReadonlyMap<string, ParamValue> = new Map(
    institution.params.map((p) => [p.name, p.value]),
  ),
): Run {
  const machine = createInstitutionMachine(institution, params);
  const [first, firstActions] = initialTransition(machine);
  let snapshot: SnapshotFrom<InstitutionMachine> = first;
  const initialEnv = environment(institution, params, { monitors: {} }, 0, first.context);
  const initialEffects = describeEffects(firstActions, institution, initialEnv);
  const steps: Step[] = [];
  script.forEach((input, i) => {
    const round = i + 1;
    const context = snapshot.context as InstitutionContext;
    const env = environment(institution, params, input, round, context);
    // The holds of every conditional transition, from the IR's conditions (not from names).
    const holds: Record<string, boolean> = {};
    for (const state of institution.states) {
      for (const t of state.transitions) {
        if (t.condition) holds[t.id] = evaluate(t.condition, env) !== 0;
      }
    }
    const during = String(snapshot.value);
    const [next, actions] = transition(machine, snapshot, { type: 'round', round, holds });
    steps.push({
      round,
      during,
      next: String(next.value),
      effects: describeEffects(actions, institution, env),
    });
    snapshot = next;
  });
  return { steps, initialEffects, context: snapshot.context as InstitutionContext };
}

const rounds = (values: readonly boolean[], name = 'x'): RoundInput[] =>
  values.map((v) => ({ monitors: { [name]: v } }));

/** `T`/`F` strings read better than boolean arrays in a round-by-round script. */
const tf = (pattern: string, name = 'x'): RoundInput[] =>
  rounds(
    [...pattern.replaceAll(' ', '')].map((c) => c === 'T'),
    name,
  );

const statesAfter = (r: Run) => r.steps.map((s) => s.next);

// ---- the stdlib governance graph ------------------------------------------------------------

describe('stdlib governance graph', () => {
  const text = readFileSync(join(stdlib, 'governance-graph.mase'), 'utf8');
  const gg = compiled(text, 'stdlib/governance-graph.mase');
  const defaults = new Map(gg.params.map((p) => [p.name, p.value]));
  // The round-by-round scripts below were written for 3 rounds of persistence and
  // suspensions of 5 (the defaults before calibration, docs/metrics.md): round counts are
  // parameters, and what is tested here is the machine's logic.
  const scripted = new Map([...defaults, ['persistence', 3], ['suspension_rounds', 5]]);

  it('has the transitions the source declares, in declaration order within each state', () => {
    const summary = gg.states.flatMap((s) =>
      s.transitions.map((t) => `${t.id} ${t.kind} -> ${t.target} if ${t.condition?.text ?? '-'}`),
    );
    expect(summary).toEqual([
      'active.0 when -> warning if evidence',
      'warning.0 when -> fined if evidence',
      'warning.1 after -> active if not evidence',
      'fined.0 when -> suspended if evidence',
      'fined.1 after -> credited if not evidence',
      'suspended.0 after -> fined if -',
      'credited.0 after -> active if -',
    ]);
  });

  it('escalates, fines, suspends, credits and restores exactly as written', () => {
    // evidence, firm 0's profit this round; then: state during the round, state after it,
    // and the effects. Fines are max(fine_floor, fine_share * profit[self]) with
    // fine_floor = 200 and fine_share = 0.35; the credit is credit_amount = 100.
    const script: [boolean, number, string, string, string[]][] = [
      [true, 1000, 'active', 'active', []], // 1: streak 1 of persistence = 3
      [true, 1000, 'active', 'active', []], // 2: streak 2
      [true, 1000, 'active', 'warning', ['notice warning']], // 3: streak 3 -> warning (P1)
      [true, 1000, 'warning', 'fined', ['notice fined']], // 4: evidence while warned (P2)
      [true, 1000, 'fined', 'fined', ['fine 350 each round (fined)']], // 5: streak 1 of 2
      [true, 400, 'fined', 'suspended', ['fine 200 each round (fined)', 'notice suspended']], // 6
      [true, 0, 'suspended', 'suspended', []], // 7: suspension round 1 of 5
      [false, 0, 'suspended', 'suspended', []], // 8: round 2; evidence is irrelevant here
      [true, 0, 'suspended', 'suspended', []], // 9: round 3
      [false, 0, 'suspended', 'suspended', []], // 10: round 4
      [true, 0, 'suspended', 'fined', ['notice fined']], // 11: round 5 -> back to fined
      [false, 2000, 'fined', 'fined', ['fine 700 each round (fined)']], // 12: 1 clean round
      [
        false,
        100,
        'fined',
        'credited',
        ['fine 200 each round (fined)', 'credit 100 on entry (credited)'],
      ], // 13: 2 clean rounds -> credited (R1)
      [true, 1000, 'credited', 'active', []], // 14: after 1 round, whatever the evidence
      [true, 1000, 'active', 'active', []], // 15: streak 1
      [false, 1000, 'active', 'active', []], // 16: streak broken
      [true, 1000, 'active', 'active', []], // 17: streak 1 again
      [true, 1000, 'active', 'active', []], // 18: streak 2
      [true, 1000, 'active', 'warning', ['notice warning']], // 19: streak 3 -> warning
      [false, 1000, 'warning', 'warning', []], // 20: 1 clean round
      [false, 1000, 'warning', 'active', []], // 21: 2 clean rounds -> active (R1)
      [false, 1000, 'active', 'active', []], // 22
    ];
    const result = run(
      gg,
      script.map(([evidence, profit]) => ({ monitors: { evidence }, profit: [profit, 0] })),
      scripted,
    );
    expect(result.initialEffects).toEqual([]);
    expect(result.steps).toEqual(
      script.map(([, , during, next, effects], i) => ({ round: i + 1, during, next, effects })),
    );
    expect(result.context.visits).toEqual({
      active: 3,
      warning: 2,
      fined: 2,
      suspended: 1,
      credited: 1,
    });
    expect(result.context.lastEntered).toEqual({
      active: 21,
      warning: 19,
      fined: 11,
      suspended: 6,
      credited: 13,
    });
  });

  it('fines only for rounds spent in `fined`, once per such round', () => {
    // Alternating evidence in `fined` never completes either streak of 2.
    const evidence = [true, true, true, true, false, true, false, true, false, false];
    const result = run(
      gg,
      evidence.map((e) => ({ monitors: { evidence: e }, profit: [1000, 1000] })),
      scripted,
    );
    expect(statesAfter(result)).toEqual([
      'active',
      'active',
      'warning',
      'fined', // 4
      'fined', // 5: not evidence, clean streak 1
      'fined', // 6: evidence, evidence streak 1, clean streak reset
      'fined', // 7: clean streak 1, evidence streak reset
      'fined', // 8: evidence streak 1
      'fined', // 9: clean streak 1
      'credited', // 10: clean streak 2
    ]);
    const fineRounds = result.steps
      .filter((s) => s.effects.some((e) => e.startsWith('fine ')))
      .map((s) => s.round);
    const roundsInFined = result.steps.filter((s) => s.during === 'fined').map((s) => s.round);
    expect(fineRounds).toEqual([5, 6, 7, 8, 9, 10]);
    expect(roundsInFined).toEqual(fineRounds);
  });

  it('suspends for exactly suspension_rounds rounds, also when it is overridden', () => {
    const toSuspension = [true, true, true, true, true, true];
    const suspendedRounds = (r: Run) =>
      r.steps.filter((s) => s.during === 'suspended').map((s) => s.round);
    const script = [...toSuspension, ...Array<boolean>(10).fill(false)].map((e) => ({
      monitors: { evidence: e },
      profit: [0, 0],
    }));
    expect(suspendedRounds(run(gg, script, scripted))).toEqual([7, 8, 9, 10, 11]);
    const two = new Map([...scripted, ['suspension_rounds', 2]]);
    expect(suspendedRounds(run(gg, script, two))).toEqual([7, 8]);
    // The calibrated defaults: persistence 2 and suspensions of 2 rounds.
    expect(suspendedRounds(run(gg, script))).toEqual([6, 7]);
  });

  it('compiles a persistence override into the warning transition', () => {
    const config = machineConfig(gg, new Map([['persistence', 5]])) as {
      states: Record<string, { on: { round: { guard?: { params: { rounds: number } } }[] } }>;
    };
    expect(config.states.active?.on.round[0]?.guard?.params.rounds).toBe(5);
    expect(
      (machineConfig(gg) as typeof config).states.active?.on.round[0]?.guard?.params.rounds,
    ).toBe(2);

    const five = new Map([...defaults, ['persistence', 5]]);
    const evidence = tf('TTTTT', 'evidence').map((r) => ({ ...r, profit: [0, 0] }));
    expect(statesAfter(run(gg, evidence, scripted))).toEqual([
      'active',
      'active',
      'warning',
      'fined',
      'fined',
    ]);
    expect(statesAfter(run(gg, evidence, five))).toEqual([
      'active',
      'active',
      'active',
      'active',
      'warning',
    ]);
  });
});

// ---- edge cases on small institutions ---------------------------------------------------------

const header = `mase 1

institution t {
  scope per firm
  monitor x = profit[self] > 0
  monitor y = profit[self] < 0
`;

describe('`when … for k rounds`', () => {
  const t = compiled(`${header}
  initial state idle {
    when x for 3 rounds -> alarmed
    when y -> away priority 1
  }
  state alarmed {
    notice "alarm"
    after 1 round -> idle
  }
  state away {
    after 1 round -> idle
  }
}
`);
  const script = (pattern: string, away: readonly number[] = []) =>
    [...pattern].map((c, i) => ({
      monitors: { x: c === 'T', y: away.includes(i + 1) },
    }));

  it('fires on the third consecutive round', () => {
    const r = run(t, script('TTT'));
    expect(statesAfter(r)).toEqual(['idle', 'idle', 'alarmed']);
    expect(r.steps[2]?.effects).toEqual(['notice alarmed']);
  });

  it('does not fire when the streak is broken at round 2; the count starts again', () => {
    const r = run(t, script('TFTTT'));
    // A count of rounds (not of consecutive rounds) would reach 3 at round 4.
    expect(statesAfter(r)).toEqual(['idle', 'idle', 'idle', 'idle', 'alarmed']);
  });

  it('does not carry a streak over when the state is left and entered again', () => {
    // Rounds 1–2 build a streak of 2; at round 3 x still holds but y (priority 1) wins and
    // the firm leaves; it is back in idle after round 4, so x must hold in 5, 6 and 7.
    const r = run(t, script('TTTTTTT', [3]));
    expect(statesAfter(r)).toEqual(['idle', 'idle', 'away', 'idle', 'idle', 'idle', 'alarmed']);
  });
});

describe('`after k rounds`', () => {
  it('`after 1 round` fires on the first round after entry', () => {
    const t = compiled(`${header}
  initial state idle {
    when x -> brief
  }
  state brief {
    notice "brief"
    after 1 round -> idle
  }
}
`);
    const r = run(t, tf('TFF'));
    expect(r.steps).toEqual([
      { round: 1, during: 'idle', next: 'brief', effects: ['notice brief'] },
      { round: 2, during: 'brief', next: 'idle', effects: [] },
      { round: 3, during: 'idle', next: 'idle', effects: [] },
    ]);
  });

  it('`after k rounds` without a condition counts every round', () => {
    const t = compiled(`${header}
  initial state idle {
    when x -> waiting
  }
  state waiting {
    notice "waiting"
    after 3 rounds -> idle
  }
}
`);
    // Entered at round 1; rounds 2, 3 and 4 are spent in `waiting` whatever x does.
    expect(statesAfter(run(t, tf('TTFTF')))).toEqual([
      'waiting',
      'waiting',
      'waiting',
      'idle',
      'idle',
    ]);
  });

  it('`after k rounds while c` needs k consecutive rounds of c in the state', () => {
    const t = compiled(`${header}
  initial state idle {
    after 3 rounds while x -> done
  }
  state done {
    notice "done"
    after 1 round -> idle
  }
}
`);
    expect(statesAfter(run(t, tf('TTFTTT')))).toEqual([
      'idle',
      'idle',
      'idle',
      'idle',
      'idle',
      'done',
    ]);
  });
});

describe('priorities', () => {
  const t = compiled(`${header}
  monitor z = profit[self] == 0
  initial state start {
    when x -> low
    when y -> high priority 2
    when z -> tie_first priority 1
    when x or y -> tie_second priority 1
  }
  state low { notice "low"  after 1 round -> start }
  state high { notice "high"  after 1 round -> start }
  state tie_first { notice "tie_first"  after 1 round -> start }
  state tie_second { notice "tie_second"  after 1 round -> start }
}
`);

  const first = (monitors: Record<string, boolean>) =>
    run(t, [{ monitors: { x: false, y: false, z: false, ...monitors } }]).steps[0]?.next;

  it('keeps declaration-order ids while sorting by priority', () => {
    expect(t.states[0]?.transitions.map((tr) => `${tr.id}:${tr.priority}`)).toEqual([
      'start.1:2',
      'start.2:1',
      'start.3:1',
      'start.0:0',
    ]);
  });

  it('a higher-priority transition wins when both hold', () => {
    // y holds: start.1 (priority 2) and start.3 (priority 1) both hold.
    expect(first({ y: true })).toBe('high');
    // x and y both hold: start.0 (0), start.1 (2), start.3 (1).
    expect(first({ x: true, y: true })).toBe('high');
    // x alone: start.0 (0) and start.3 (1); the higher priority wins over declaration order.
    expect(first({ x: true })).toBe('tie_second');
  });

  it('equal priorities fall back to declaration order', () => {
    // x and z: start.2 and start.3 both have priority 1; start.2 is declared first.
    expect(first({ x: true, z: true })).toBe('tie_first');
  });

  it('takes no transition when nothing holds', () => {
    expect(first({})).toBe('start');
  });
});

describe('self-transitions', () => {
  const t = compiled(`${header}
  initial state idle {
    when x -> probation
  }
  state probation {
    notice "probation"
    when x -> probation
    after 3 rounds -> idle
  }
}
`);

  it('re-enter the state: the entry notice again and fresh counters', () => {
    const r = run(t, tf('TFFTFFFF'));
    expect(r.steps.map((s) => [s.round, s.during, s.next, s.effects])).toEqual([
      [1, 'idle', 'probation', ['notice probation']],
      [2, 'probation', 'probation', []], // 1 round in probation
      [3, 'probation', 'probation', []], // 2 rounds
      [4, 'probation', 'probation', ['notice probation']], // x: re-entered, counters reset
      [5, 'probation', 'probation', []], // 1 (without the reset this would be the 4th)
      [6, 'probation', 'probation', []], // 2
      [7, 'probation', 'idle', []], // 3 -> idle
      [8, 'idle', 'idle', []],
    ]);
    expect(r.context.visits).toEqual({ idle: 2, probation: 2 });
    expect(r.context.lastEntered).toEqual({ idle: 7, probation: 4 });
  });
});

describe('offence history in guards', () => {
  it('visits(state) sends a second offence to a harsher state', () => {
    const t = compiled(`${header}
  initial state clean {
    when x and visits(warned) == 0 -> warned
    when x and visits(warned) >= 1 -> banned
  }
  state warned {
    notice "warned"
    after 1 round -> clean
  }
  state banned {
    notice "banned"
    suspend
    after 10 rounds -> clean
  }
}
`);
    const r = run(t, tf('TFFTF'));
    expect(r.steps.map((s) => [s.during, s.next, s.effects])).toEqual([
      ['clean', 'warned', ['notice warned']], // first offence
      ['warned', 'clean', []],
      ['clean', 'clean', []],
      ['clean', 'banned', ['notice banned']], // second offence: visits(warned) = 1
      ['banned', 'banned', []],
    ]);
  });

  it('rounds_since(state) escalates a relapse within 3 rounds, not a later one', () => {
    const t = compiled(`${header}
  initial state clean {
    when x and rounds_since(warned) <= 3 -> banned priority 1
    when x -> warned
  }
  state warned {
    notice "warned"
    after 1 round -> clean
  }
  state banned {
    notice "banned"
    suspend
    after 10 rounds -> clean
  }
}
`);
    // Never warned: rounds_since is infinite, so the first offence is only a warning.
    // Warned at 1, clean again at 2; an offence at 4 is 3 rounds after the warning.
    expect(statesAfter(run(t, tf('TFFT')))).toEqual(['warned', 'clean', 'clean', 'banned']);
    // An offence at 5 is 4 rounds after the warning: a fresh warning.
    const late = run(t, tf('TFFFT'));
    expect(statesAfter(late)).toEqual(['warned', 'clean', 'clean', 'clean', 'warned']);
    expect(late.context.visits.warned).toBe(2);
  });
});
