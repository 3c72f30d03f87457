// Resolving the policies experiments and sweeps name. The policies every world of a kind
// offers are the runtime's (handed to the checker as data, so the compiler stays pure);
// an environment adds its benchmarks and its declared policies, which its IR holds.
import type { FactorDecl, PolicyRef } from '../../grammar/ast.js';
import { didYouMean } from '../../grammar/suggest.js';
import type { IrExperiment, IrWorld } from '../ir.js';
import type { Reporter } from './common.js';

/** A policy the runtime provides: its name, and the argument names it accepts in positional order. */
export interface RuntimePolicy {
  readonly name: string;
  /** Absent: its arguments are not checked here (the runtime checks them when a run starts). */
  readonly arguments?: readonly string[];
}

/** The generic policies the runtime provides, per kind of world. */
export interface RuntimePolicies {
  readonly market: readonly RuntimePolicy[];
  readonly environment: readonly RuntimePolicy[];
  /** The scripted policies of code kinds (`kind NAME`), by kind. */
  readonly kinds?: Readonly<Record<string, readonly RuntimePolicy[]>>;
}

/** The policies an agent of `world` may follow, in the order the runtime lists them. */
export function policiesOf(world: IrWorld, runtime: RuntimePolicies): RuntimePolicy[] {
  if (world.kind === 'market') return [...runtime.market];
  return [
    ...runtime.environment,
    ...(world.code ? (runtime.kinds?.[world.code.kind] ?? []) : []),
    ...world.benchmarks.map((b) => ({ name: b.name, arguments: [] })),
    ...world.policies.map((p) => ({
      name: p.name,
      arguments: (p.params ?? []).map((a) => a.name),
    })),
  ];
}

/**
 * Reports a policy its world does not offer, at the policy's name, and arguments it does
 * not accept, at the argument. Without the runtime's names (a caller that does not hand
 * them in), nothing is checked.
 */
export function checkPolicyName(
  policy: Pick<PolicyRef, 'name' | 'args'>,
  world: IrWorld | undefined,
  runtime: RuntimePolicies | undefined,
  path: string,
  reporter: Reporter,
): void {
  if (!world || !runtime) return;
  const known = policiesOf(world, runtime);
  const name = policy.name.name;
  const found = known.find((p) => p.name === name);
  if (!found) {
    const names = known.map((p) => p.name);
    const list = `policies: ${names.join(', ')}`;
    const guess = didYouMean(name, names);
    reporter.report(
      'E_UNKNOWN_NAME',
      path,
      policy.name.range,
      `no policy \`${name}\` for ${world.kind} \`${world.name}\``,
      guess ? `${guess} ${list}` : list,
    );
    return;
  }
  const accepted = found.arguments;
  if (!accepted) return;
  const accepts =
    accepted.length > 0
      ? `it accepts ${accepted.map((a) => `\`${a}\``).join(', ')}`
      : 'it takes no arguments';
  let positional = 0;
  for (const arg of policy.args) {
    if (!arg.name) {
      if (++positional > accepted.length)
        reporter.report(
          'E_ARITY',
          path,
          arg.value.range,
          `\`${name}\` takes ${accepted.length === 0 ? 'no arguments' : `at most ${accepted.length} positional argument${accepted.length === 1 ? '' : 's'}`}`,
          accepts,
        );
      continue;
    }
    if (!accepted.includes(arg.name.name))
      reporter.report(
        'E_ARITY',
        path,
        arg.name.range,
        `\`${name}\` has no argument \`${arg.name.name}\``,
        didYouMean(arg.name.name, accepted) ?? accepts,
      );
  }
}

/**
 * A sweep that varies the world (`factor environment = commons | minimum_effort`): each
 * level's world must offer the policies its runs use, those of the `agents` factors and,
 * unless a factor replaces them all, the base experiment's own.
 */
export function checkPoliciesAcrossWorlds(
  factors: readonly FactorDecl[],
  base: { readonly experiment: IrExperiment; readonly market?: IrWorld },
  worlds: ReadonlyMap<string, IrWorld>,
  runtime: RuntimePolicies | undefined,
  path: string,
  reporter: Reporter,
): void {
  const baseWorld = base.market;
  if (!runtime || !baseWorld) return;
  const offers = (world: IrWorld, name: string) =>
    policiesOf(world, runtime).some((p) => p.name === name);
  const levels = factors
    .filter((f) => f.target.name === baseWorld.kind && !f.member)
    .flatMap((f) => f.levels ?? [])
    .flatMap((level) => {
      const world = level.kind === 'ref' ? worlds.get(level.ref.name.name) : undefined;
      return level.kind === 'ref' && world?.kind === baseWorld.kind && world !== baseWorld
        ? [{ ref: level.ref, world }]
        : [];
    });
  const agentFactors = factors.filter((f) => f.target.name === 'agents');
  // A policy the base world lacks too has been reported already.
  const refs = agentFactors
    .flatMap((f) => f.levels ?? [])
    .flatMap((level) => (level.kind === 'ref' ? [level.ref] : []))
    .filter((ref) => offers(baseWorld, ref.name.name));
  for (const { world } of levels) {
    for (const ref of refs) checkPolicyName(ref, world, runtime, path, reporter);
  }
  if (agentFactors.some((f) => !f.member)) return;
  const { all, perFirm } = base.experiment.agents;
  const own = [...(all ? [all] : []), ...Object.values(perFirm)];
  for (const { ref, world } of levels) {
    const missing = [...new Set(own.map((p) => p.name).filter((n) => !offers(world, n)))];
    if (missing.length > 0)
      reporter.report(
        'E_UNKNOWN_NAME',
        path,
        ref.name.range,
        `${world.kind} \`${world.name}\` has no policy ${missing.map((n) => `\`${n}\``).join(', ')}, which experiment \`${base.experiment.name}\` gives its agents`,
        `policies of ${world.name}: ${policiesOf(world, runtime)
          .map((p) => p.name)
          .join(', ')}`,
      );
  }
}
