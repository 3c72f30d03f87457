import type { RuntimePolicies } from '../compiler/index.js';
import { knownPolicies } from './agents/registry.js';
import { genericEnvironmentPolicies } from './environment/policies.js';

/**
 * The policies the runtime builds, per kind of world, as the checker takes them
 * (`compileSources(…, { policies })`): so `mase check` resolves the policies experiments
 * and sweeps name, and `mase run`/`mase sweep` refuse an unknown one before running.
 */
export function runtimePolicies(): RuntimePolicies {
  return {
    market: knownPolicies().map((name) => ({ name })),
    environment: genericEnvironmentPolicies().map(({ name }) => ({ name })),
  };
}
