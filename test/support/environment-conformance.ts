import {
  createEnvironmentAgent,
  type EnvironmentInstance,
  type EnvironmentObservation,
  environmentPolicies,
  PolicyError,
  randomStream,
} from '../../runtime/index.js';

/**
 * A conformance kit for environments, the counterpart of market-conformance.ts: it takes a
 * bound environment (`instantiateEnvironment`) and checks the contract the round loop,
 * the institutions and the agents rely on, returning the problems it finds (an empty
 * list: the environment conforms). It never throws; an exception is itself a problem.
 *
 * - shape: one name per agent; bounds finite below, not crossed, a positive step; an
 *   action among options runs over 0 … options − 1 in steps of 1.
 * - benchmarks: each benchmark action is lawful (in bounds, on the grid) and its payoff is
 *   what `clear` gives for it in round 1.
 * - purity: `clear` gives the same outcome twice, leaves its input and the state alone.
 * - finite: for the benchmark, corner and random lawful actions over several rounds, every
 *   payoff and every recorded value is a finite number.
 * - policies: every scripted policy the environment offers (generic ones with their
 *   defaults, `constant` at the lower bound, its benchmarks, its declared policies)
 *   returns one finite action in rounds 1 and 2, or is refused when it is created with a
 *   PolicyError (a message for the user, e.g. a Q-table too large for the population).
 */

export interface EnvironmentProblem {
  /** `shape`, `benchmarks`, `purity`, `finite`, `policies`, `clear`. */
  readonly check: string;
  readonly message: string;
}

export interface EnvironmentConformanceOptions {
  /** Random lawful profiles to clear (default 30), each played for `rounds` rounds. */
  readonly samples?: number;
  readonly rounds?: number;
  readonly seed?: number;
  readonly tolerance?: number;
}

const close = (a: number, b: number, tolerance: number) =>
  Math.abs(a - b) <= tolerance * Math.max(1, Math.abs(a), Math.abs(b));

/** Runs the kit; `fresh` gives a new instance at its initial state (runs must not share state). */
export function environmentConformance(
  fresh: () => EnvironmentInstance,
  options: EnvironmentConformanceOptions = {},
): EnvironmentProblem[] {
  const problems: EnvironmentProblem[] = [];
  const report = (check: string, message: string) => problems.push({ check, message });
  const tolerance = options.tolerance ?? 1e-9;
  let env: EnvironmentInstance;
  try {
    env = fresh();
  } catch (error) {
    report('shape', `instantiating failed: ${String(error)}`);
    return problems;
  }
  const n = env.agents.length;
  const name = (i: number) => env.agents[i] ?? `agent ${i}`;

  // shape
  if (n === 0 || new Set(env.agents).size !== n)
    report('shape', 'agent names are missing or repeated');
  if (env.dims.firms !== n || env.dims.products !== 1)
    report('shape', `dims ${env.dims.firms}×${env.dims.products} for ${n} agents`);
  for (let i = 0; i < n; i++) {
    const low = env.low[i] ?? Number.NaN;
    const high = env.high[i] ?? Number.NaN;
    if (!Number.isFinite(low)) report('shape', `${name(i)}'s lower bound is ${low}`);
    if (!(low <= high)) report('shape', `${name(i)}'s bounds are [${low}, ${high}]`);
    const step = env.step?.[i];
    if (step !== undefined && !(step > 0)) report('shape', `${name(i)}'s step is ${step}`);
  }
  if (
    env.options &&
    (env.low.some((x) => x !== 0) || env.high.some((x) => x !== (env.options?.length ?? 0) - 1))
  )
    report('shape', 'an action among options must run over 0 … options − 1');

  const lawful = (i: number, x: number) => {
    const low = env.low[i] ?? 0;
    const high = env.high[i] ?? 0;
    if (!(x >= low - tolerance && x <= high + tolerance)) return false;
    const step = env.step?.[i];
    if (step === undefined) return true;
    const k = (x - low) / step;
    return Math.abs(k - Math.round(k)) <= 1e-6;
  };
  const random = randomStream(options.seed ?? 1, 'environment-conformance');
  const draw = (i: number) => {
    const low = env.low[i] ?? 0;
    const high = Number.isFinite(env.high[i] ?? 0) ? (env.high[i] ?? 0) : low + 100;
    const step = env.step?.[i];
    if (step === undefined) return low + random.next() * (high - low);
    const points = Math.floor((high - low) / step + 1e-9);
    return low + Math.floor(random.next() * (points + 1)) * step;
  };

  const clear = (instance: EnvironmentInstance, action: Float64Array, round: number) => {
    try {
      return instance.clear(action, round);
    } catch (error) {
      report('clear', `clear(${Array.from(action).join(', ')}) threw: ${String(error)}`);
      return undefined;
    }
  };
  const checkFinite = (what: string, outcome: NonNullable<ReturnType<typeof clear>>): void => {
    outcome.payoff.forEach((x, i) => {
      if (!Number.isFinite(x)) report('finite', `${what}: ${name(i)}'s payoff is ${x}`);
    });
    // A code kind's computed value may be unknown (NaN: a text world's similarity in a round
    // nobody wrote); never infinite.
    const unknownAllowed = new Set((env.ir.code?.computed ?? []).map((c) => c.name));
    for (const [key, t] of outcome.values)
      if (
        Array.from(t.data).some(
          (x) => !Number.isFinite(x) && !(Number.isNaN(x) && unknownAllowed.has(key)),
        )
      )
        report('finite', `${what}: \`${key}\` is ${Array.from(t.data).join(', ')}`);
  };

  // benchmarks
  for (const [benchmark, b] of env.benchmarks) {
    for (let i = 0; i < n; i++)
      if (!lawful(i, b.action[i] ?? Number.NaN))
        report('benchmarks', `${benchmark}: ${name(i)}'s action ${b.action[i]} is not lawful`);
    const outcome = clear(fresh(), Float64Array.from(b.action), 1);
    if (!outcome) continue;
    for (let i = 0; i < n; i++)
      if (!close(outcome.payoff[i] ?? Number.NaN, b.payoff[i] ?? Number.NaN, tolerance))
        report(
          'benchmarks',
          `${benchmark}: ${name(i)}'s payoff is ${b.payoff[i]}, but clear gives ${outcome.payoff[i]}`,
        );
  }

  // purity
  {
    const instance = fresh();
    const action = Float64Array.from({ length: n }, (_, i) => draw(i));
    const copy = Float64Array.from(action);
    const before = JSON.stringify([...instance.state()].map(([k, t]) => [k, Array.from(t.data)]));
    const a = clear(instance, action, 1);
    const b = clear(instance, action, 1);
    const after = JSON.stringify([...instance.state()].map(([k, t]) => [k, Array.from(t.data)]));
    if (a && b) {
      if (JSON.stringify(Array.from(a.payoff)) !== JSON.stringify(Array.from(b.payoff)))
        report('purity', 'clear gives different payoffs for the same actions');
      if (a.payoff === b.payoff) report('purity', 'clear returns the same payoff array twice');
    }
    if (action.some((x, i) => x !== copy[i])) report('purity', 'clear changed its input');
    if (before !== after) report('purity', 'clear changed the state (only advance may)');
  }

  // finite: benchmark, corner and random profiles, several rounds each
  const rounds = options.rounds ?? 5;
  const profiles: [string, (i: number) => number][] = [
    ['lower bounds', (i) => env.low[i] ?? 0],
    [
      'upper bounds',
      (i) => (Number.isFinite(env.high[i] ?? 0) ? (env.high[i] ?? 0) : (env.low[i] ?? 0) + 100),
    ],
    ...[...env.benchmarks].map(([b, v]): [string, (i: number) => number] => [
      b,
      (i) => v.action[i] ?? 0,
    ]),
    ...Array.from({ length: options.samples ?? 30 }, (_, k): [string, (i: number) => number] => [
      `random profile ${k + 1}`,
      draw,
    ]),
  ];
  for (const [what, action] of profiles) {
    const instance = fresh();
    for (let round = 1; round <= rounds; round++) {
      const outcome = clear(
        instance,
        Float64Array.from({ length: n }, (_, i) => action(i)),
        round,
      );
      if (!outcome) break;
      checkFinite(`${what}, round ${round}`, outcome);
      if (outcome.ended) break;
      instance.advance(outcome);
    }
  }

  // policies
  const generic: Record<string, { name: string; args: { value: number }[] }> = {
    constant: { name: 'constant', args: [{ value: env.low[0] ?? 0 }] },
  };
  for (const { name: policy } of environmentPolicies(env)) {
    if (policy === 'llm') continue; // needs model services; tested in test/runtime/environment/llm.test.ts
    if (policy === 'random' && env.step === undefined && env.high.some((x) => !Number.isFinite(x)))
      continue; // refused by design: no finite bound to draw in
    const instance = fresh();
    const history: { actions: Float64Array; outcome: NonNullable<ReturnType<typeof clear>> }[] = [];
    let agents: ReturnType<typeof createEnvironmentAgent>[];
    try {
      agents = instance.agents.map((_, i) =>
        createEnvironmentAgent(generic[policy] ?? { name: policy, args: [] }, {
          agent: i,
          environment: instance,
          random: randomStream(1, `conformance:${policy}:${i}`),
        }),
      );
    } catch (error) {
      if (!(error instanceof PolicyError)) report('policies', `${policy}: ${String(error)}`);
      continue;
    }
    try {
      for (let round = 1; round <= 2; round++) {
        const actions = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const observation: EnvironmentObservation = {
            round,
            firm: i,
            environment: instance,
            history,
          };
          const decided = agents[i]?.decide(observation);
          const action =
            decided instanceof Float64Array
              ? decided
              : (decided as { action?: Float64Array } | undefined)?.action;
          if (action?.length !== 1 || !Number.isFinite(action[0] ?? Number.NaN)) {
            report(
              'policies',
              `${policy}: ${name(i)} decided ${String(decided)} in round ${round}`,
            );
            break;
          }
          actions[i] = action[0] ?? 0;
        }
        const outcome = clear(instance, actions, round);
        if (!outcome || outcome.ended) break;
        history.push({ actions, outcome });
        instance.advance(outcome);
      }
    } catch (error) {
      report('policies', `${policy}: ${String(error)}`);
    }
  }
  return problems;
}
