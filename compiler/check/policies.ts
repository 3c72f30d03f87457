// Resolving the policies experiments and sweeps name. The policies every world of a kind
// offers are the runtime's (handed to the checker as data, so the compiler stays pure);
// an environment adds its benchmarks and its declared policies, which its IR holds.
import type { PolicyRef } from '../../grammar/ast.js';
import { didYouMean } from '../../grammar/suggest.js';
import type { IrWorld } from '../ir.js';
import type { Reporter } from './common.js';

/** A policy the runtime provides, by name. */
export interface RuntimePolicy {
  readonly name: string;
}

/** The generic policies the runtime provides, per kind of world. */
export interface RuntimePolicies {
  readonly market: readonly RuntimePolicy[];
  readonly environment: readonly RuntimePolicy[];
}

/** The policy names an agent of `world` may follow, in the order the runtime lists them. */
export function policiesOf(world: IrWorld, runtime: RuntimePolicies): string[] {
  if (world.kind === 'market') return runtime.market.map((p) => p.name);
  return [
    ...runtime.environment.map((p) => p.name),
    ...world.benchmarks.map((b) => b.name),
    ...world.policies.map((p) => p.name),
  ];
}

/**
 * Reports a policy its world does not offer, at the policy's name. Without the runtime's
 * names (a caller that does not hand them in), nothing is checked.
 */
export function checkPolicyName(
  policy: Pick<PolicyRef, 'name'>,
  world: IrWorld | undefined,
  runtime: RuntimePolicies | undefined,
  path: string,
  reporter: Reporter,
): void {
  if (!world || !runtime) return;
  const known = policiesOf(world, runtime);
  const name = policy.name.name;
  if (known.includes(name)) return;
  const list = `policies: ${known.join(', ')}`;
  const guess = didYouMean(name, known);
  reporter.report(
    'E_UNKNOWN_NAME',
    path,
    policy.name.range,
    `no policy \`${name}\` for ${world.kind} \`${world.name}\``,
    guess ? `${guess} ${list}` : list,
  );
}
