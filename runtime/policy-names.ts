import type { RuntimePolicies } from '../compiler/index.js';
import { POLICIES } from './agents/registry.js';
import { kindPolicies } from './environment/kinds.js';
import { genericEnvironmentPolicies } from './environment/policies.js';

/**
 * The policies the runtime builds, per kind of world, with the arguments each accepts, as
 * the checker takes them (`compileSources(…, { policies })`): so `mase check` resolves the
 * policies experiments and sweeps name, and `mase run`/`mase sweep` refuse an unknown one
 * before running.
 */
export function runtimePolicies(): RuntimePolicies {
  return {
    market: POLICIES.map((p) => ({ name: p.name, arguments: p.arguments })),
    environment: genericEnvironmentPolicies().map((p) => ({
      name: p.name,
      arguments: p.arguments,
    })),
    kinds: Object.fromEntries(
      Object.entries(kindPolicies()).map(([kind, list]) => [
        kind,
        list.map((p) => ({ name: p.name, arguments: p.arguments })),
      ]),
    ),
  };
}
