import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { initialTransition, transition } from 'xstate';
// Constant folding, internal to the compiler: a parameter's rounds as the checker folds them.
import { constantValue } from '../../compiler/constant.js';
import {
  compileSources,
  createInstitutionMachine,
  type InstitutionEvent,
  type IrInstitution,
  type RoundEvent,
} from '../../compiler/index.js';
import { stdlibSources } from '../../runtime/index.js';
import {
  type GenInstitution,
  institutionArbitrary,
  institutionSource,
  roundsOf,
  runs,
} from './institution-arbitrary.js';

/**
 * Drives compiled institution machines with random rounds and checks them against a
 * reference stepper that keeps its own streak counters: the machine must visit declared
 * states only, count rounds and streaks as documented, and charge per-round sanctions
 * exactly for the rounds spent in a state that has them.
 */

interface SpecTransition {
  readonly id: string;
  readonly target: string;
  readonly rounds: number;
  /** An `after` without `while`: counts every round. */
  readonly always: boolean;
}

interface SpecState {
  /** In the order they are tried: priority first, then declaration order. */
  readonly transitions: readonly SpecTransition[];
  readonly eachRound: readonly number[];
  readonly onEntry: readonly number[];
  readonly notices: readonly string[];
}

interface Spec {
  readonly initial: string;
  readonly states: ReadonlyMap<string, SpecState>;
  readonly transitionIds: readonly string[];
}

const indicesWhere = <T>(xs: readonly T[], f: (x: T) => boolean) =>
  xs.flatMap((x, i) => (f(x) ? [i] : []));

/** The spec of a generated institution, from the generator's model alone. */
function specOfModel(g: GenInstitution): Spec {
  const states = new Map<string, SpecState>();
  for (const s of g.states) {
    const declared = s.transitions.map((t, i) => ({
      id: `${s.name}.${i}`,
      target: t.target,
      rounds: roundsOf(g, t),
      always: t.monitor === undefined,
      priority: t.priority ?? 0,
      i,
    }));
    declared.sort((a, b) => b.priority - a.priority || a.i - b.i);
    states.set(s.name, {
      transitions: declared,
      eachRound: indicesWhere(s.sanctions, (x) => x.timing === 'each_round'),
      onEntry: indicesWhere(s.sanctions, (x) => x.timing === 'entry'),
      notices: s.notices,
    });
  }
  return {
    initial: g.initial,
    states,
    transitionIds: g.states.flatMap((s) => s.transitions.map((_, i) => `${s.name}.${i}`)),
  };
}

/** The spec of a compiled institution (for the stdlib, which has no generator model). */
function specOfIr(institution: IrInstitution): Spec {
  const params = new Map(institution.params.map((p) => [p.name, p.value]));
  const states = new Map<string, SpecState>();
  for (const s of institution.states) {
    states.set(s.name, {
      transitions: s.transitions.map((t) => ({
        id: t.id,
        target: t.target,
        rounds: constantValue(t.rounds, params) ?? Number.NaN,
        always: t.condition === undefined,
      })),
      eachRound: indicesWhere(s.sanctions, (x) => x.timing === 'each_round'),
      onEntry: indicesWhere(s.sanctions, (x) => x.timing === 'entry'),
      notices: s.notices,
    });
  }
  return {
    initial: institution.initial ?? '',
    states,
    transitionIds: institution.states.flatMap((s) => s.transitions.map((t) => t.id)),
  };
}

// ---- random rounds ---------------------------------------------------------------------------

/** Rounds with increasing numbers; each sequence leans towards evidence, or against it. */
function roundsArbitrary(ids: readonly string[], maxLength: number): fc.Arbitrary<RoundEvent[]> {
  return fc.constantFrom(1, 5, 8).chain((lean) =>
    fc
      .array(
        fc.tuple(
          fc.integer({ min: 1, max: 3 }),
          fc.array(fc.nat({ max: 9 }), { minLength: ids.length, maxLength: ids.length }),
        ),
        { minLength: 1, maxLength },
      )
      .map((steps) => {
        let round = 0;
        return steps.map(([gap, draws]) => {
          round += gap;
          const holds = Object.fromEntries(ids.map((id, i) => [id, (draws[i] ?? 0) < lean]));
          return { type: 'round' as const, round, holds };
        });
      }),
  );
}

// ---- the walk ----------------------------------------------------------------------------------

interface Effect {
  readonly type: string;
  readonly params?: { state?: string; index?: number; timing?: string; text?: string };
}

const sanctionIndices = (actions: readonly Effect[], state: string, timing: string) =>
  actions
    .filter((a) => a.type === 'mase.sanction' && a.params?.timing === timing)
    .map((a) => {
      expect(a.params?.state).toBe(state);
      return a.params?.index;
    });
const noticeTexts = (actions: readonly Effect[], state: string) =>
  actions
    .filter((a) => a.type === 'mase.notice')
    .map((a) => {
      expect(a.params?.state).toBe(state);
      return a.params?.text;
    });

/** Walks the machine through `events`; returns the states it was in. */
function walk(institution: IrInstitution, spec: Spec, events: readonly RoundEvent[]): Set<string> {
  const machine = createInstitutionMachine(institution);
  const stateOf = (name: string) => {
    const s = spec.states.get(name);
    expect(s, `the machine is in undeclared state ${name}`).toBeDefined();
    return s as SpecState;
  };

  let [snapshot, actions] = initialTransition(machine);
  let current = spec.initial;
  expect(snapshot.value).toBe(current);
  expect(snapshot.context.roundsInState).toBe(0);
  expect(snapshot.context.visits).toEqual({ [current]: 1 });
  expect(sanctionIndices(actions as Effect[], current, 'entry')).toEqual(stateOf(current).onEntry);
  expect(noticeTexts(actions as Effect[], current)).toEqual(stateOf(current).notices);

  const visited = new Set([current]);
  let sinceEntry = 0;
  let streaks = new Map<string, number>();
  for (const event of events) {
    const before = snapshot;
    const from = stateOf(current);
    const holds = (t: SpecTransition) => t.always || event.holds[t.id] === true;
    const fired = from.transitions.find(
      (t) => holds(t) && (streaks.get(t.id) ?? 0) + 1 >= t.rounds,
    );

    [snapshot, actions] = transition(machine, before, event);
    const effects = actions as Effect[];
    const value = snapshot.value;
    expect(typeof value).toBe('string');
    stateOf(value as string);

    // Per-round sanctions belong to the round just spent, so to the state it was spent in.
    expect(sanctionIndices(effects, current, 'each_round')).toEqual(from.eachRound);

    if (fired) {
      const to = stateOf(fired.target);
      expect(value).toBe(fired.target);
      expect(snapshot.context.visits[fired.target]).toBe(
        (before.context.visits[fired.target] ?? 0) + 1,
      );
      expect(snapshot.context.lastEntered[fired.target]).toBe(event.round);
      expect(sanctionIndices(effects, fired.target, 'entry')).toEqual(to.onEntry);
      expect(noticeTexts(effects, fired.target)).toEqual(to.notices);
      current = fired.target;
      sinceEntry = 0;
      streaks = new Map();
    } else {
      expect(value).toBe(current);
      expect(snapshot.context.visits).toEqual(before.context.visits);
      expect(sanctionIndices(effects, current, 'entry')).toEqual([]);
      expect(noticeTexts(effects, current)).toEqual([]);
      sinceEntry++;
      streaks = new Map(
        from.transitions.map((t) => [t.id, holds(t) ? (streaks.get(t.id) ?? 0) + 1 : 0]),
      );
    }
    visited.add(current);

    const context = snapshot.context;
    expect(context.round).toBe(event.round);
    expect(context.roundsInState).toBe(sinceEntry);
    for (const [id, streak] of Object.entries(context.streaks)) {
      expect(id.startsWith(`${current}.`), `streak ${id} kept in ${current}`).toBe(true);
      expect(streak).toBeGreaterThanOrEqual(0);
      expect(streak).toBeLessThanOrEqual(sinceEntry);
    }
    expect(context.streaks).toEqual(Object.fromEntries(streaks));
  }
  return visited;
}

/**
 * Sends the rounds as the runtime does: a run of quiet rounds (no condition of the current
 * state holds, nothing comes due, no each-round sanction) as one `quiet` event before the
 * next eventful round. After every eventful round and at the end, the machine must be
 * exactly where round-by-round stepping puts it, with the same effects; returns how many
 * rounds were sent as quiet.
 */
function quietWalk(institution: IrInstitution, spec: Spec, events: readonly RoundEvent[]): number {
  const machine = createInstitutionMachine(institution);
  let [full] = initialTransition(machine);
  let [short] = initialTransition(machine);
  let idle = 0;
  let idleRound = 0;
  let quiet = 0;
  const effectsOf = (actions: readonly Effect[]) =>
    actions.map((a) => ({ type: a.type, params: a.params }));
  const send = (event: InstitutionEvent) => {
    const [next, actions] = transition(machine, short, event);
    short = next;
    return effectsOf(actions as Effect[]);
  };
  const flush = () => {
    if (idle === 0) return;
    const value = short.value;
    expect(send({ type: 'quiet', round: idleRound, rounds: idle })).toEqual([]);
    expect(short.value).toBe(value);
    idle = 0;
  };
  for (const event of events) {
    const [next, fullActions] = transition(machine, full, event);
    full = next;
    const state = spec.states.get(short.value as string) as SpecState;
    const streak = (t: SpecTransition) =>
      idle === 0
        ? (short.context.streaks[t.id] ?? 0)
        : t.always
          ? (short.context.streaks[t.id] ?? 0) + idle
          : 0;
    const isQuiet =
      state.eachRound.length === 0 &&
      state.transitions.every((t) =>
        t.always ? streak(t) + 1 < t.rounds : event.holds[t.id] !== true,
      );
    if (isQuiet) {
      expect(effectsOf(fullActions as Effect[])).toEqual([]);
      idle++;
      idleRound = event.round;
      quiet++;
      continue;
    }
    flush();
    expect(send(event)).toEqual(effectsOf(fullActions as Effect[]));
    expect(short.value).toBe(full.value);
    expect(short.context).toEqual(full.context);
  }
  flush();
  expect(short.value).toBe(full.value);
  expect(short.context).toEqual(full.context);
  return quiet;
}

// ---- properties --------------------------------------------------------------------------------

const governance = stdlibSources().find((s) => s.path.endsWith('governance-graph.mase'));
if (!governance) throw new Error('stdlib/governance-graph.mase is missing');

describe('machine walks', () => {
  it('the stdlib governance graph follows its reference stepper on random rounds', () => {
    const result = compileSources([governance]);
    expect(result.ok).toBe(true);
    const institution = result.program.institutions[0] as IrInstitution;
    const spec = specOfIr(institution);
    const visited = new Set<string>();
    fc.assert(
      fc.property(roundsArbitrary(spec.transitionIds, 60), (events) => {
        for (const s of walk(institution, spec, events)) visited.add(s);
      }),
      runs(120),
    );
    // Random rounds reach every state, so no state's behaviour went untested.
    expect([...visited].sort()).toEqual(institution.states.map((s) => s.name).sort());
  });

  it('quiet rounds sent as one event leave every machine where round-by-round stepping does', () => {
    let quiet = 0;
    let total = 0;
    fc.assert(
      fc.property(
        institutionArbitrary.chain((g) =>
          roundsArbitrary(specOfModel(g).transitionIds, 40).map((events) => ({ g, events })),
        ),
        ({ g, events }) => {
          const result = compileSources([{ path: 'generated.mase', text: institutionSource(g) }]);
          fc.pre(result.ok);
          quiet += quietWalk(
            result.program.institutions[0] as IrInstitution,
            specOfModel(g),
            events,
          );
          total += events.length;
        },
      ),
      runs(100),
    );
    // The property is only worth something if many rounds were actually compressed.
    expect(quiet).toBeGreaterThan(0.1 * total);
  });

  it('random institutions follow the reference stepper built from their model', () => {
    let walked = 0;
    fc.assert(
      fc.property(
        institutionArbitrary.chain((g) =>
          roundsArbitrary(specOfModel(g).transitionIds, 30).map((events) => ({ g, events })),
        ),
        ({ g, events }) => {
          const result = compileSources([{ path: 'generated.mase', text: institutionSource(g) }]);
          fc.pre(result.ok);
          walked++;
          walk(result.program.institutions[0] as IrInstitution, specOfModel(g), events);
        },
      ),
      runs(100),
    );
    // The generator writes valid institutions; a property that never ran would prove nothing.
    expect(walked).toBeGreaterThan(0.8 * runs(100).numRuns);
  });
});
