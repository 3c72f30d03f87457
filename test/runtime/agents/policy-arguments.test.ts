import { describe, expect, it } from 'vitest';
import { compileSources } from '../../../compiler/index.js';
import { genericEnvironmentPolicies } from '../../../runtime/environment/policies.js';
import {
  createAgent,
  createEnvironmentAgent,
  instantiateEnvironment,
  instantiateMarket,
  POLICIES,
  randomStream,
  stdlibSources,
} from '../../../runtime/index.js';

/**
 * The argument names each registry entry lists are the checker's (`mase check` refuses
 * any other): every policy, built with an argument it does not take, must refuse it
 * naming exactly those, so the list and the policy cannot drift apart.
 */
const compiled = compileSources(stdlibSources(), [], { includeLibrary: true });
const accepts = (names: readonly string[]) =>
  names.length > 0
    ? `it accepts ${names.map((n) => `\`${n}\``).join(', ')}`
    : 'it takes no arguments';
const bogus = [{ name: 'zz_not_an_argument', value: 1 }];

describe('policy argument lists match the policies', () => {
  const ir = compiled.program.markets.find((m) => m.name === 'cournot_2x2');
  if (!ir) throw new Error('no cournot_2x2');
  const market = instantiateMarket(ir, {});
  it.each(POLICIES.map((p) => [p.name, p.arguments] as const))('market %s', (name, names) => {
    expect(() =>
      createAgent({ name, args: bogus }, { firm: 0, market, random: randomStream(1, 'a') }),
    ).toThrow(`${name}: unknown argument \`zz_not_an_argument\`; ${accepts(names)}`);
  });

  const world = compiled.program.environments.find((e) => e.name === 'commons');
  if (!world) throw new Error('no commons');
  const environment = instantiateEnvironment(world, {}, 1);
  it.each(genericEnvironmentPolicies().map((p) => [p.name, p.arguments] as const))(
    'environment %s',
    (name, names) => {
      expect(() =>
        createEnvironmentAgent(
          { name, args: bogus },
          { agent: 0, environment, random: randomStream(1, 'a') },
        ),
      ).toThrow(`${name}: unknown argument \`zz_not_an_argument\`; ${accepts(names)}`);
    },
  );
});
