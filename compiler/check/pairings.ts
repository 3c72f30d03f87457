// The worlds the user's experiments and sweeps run each institution in. An institution is
// checked on its own against them, so that names of their agents and products (`quantity[f1]`,
// `harvest[fisher1]`) are known there too; an institution no experiment uses is checked
// against a world whose names are unknown.
import { agentNames, paramValues } from '../instantiate.js';
import type { IrExperiment, IrSweep, IrWorld, ParamValue } from '../ir.js';
import { worldContext } from './institution.js';
import type { MarketContext } from './market.js';
import type { Worlds } from './symbols.js';

interface Pairing {
  readonly world: IrWorld;
  readonly overrides: Readonly<Record<string, ParamValue>>;
}

const overridesOf = (args: readonly { name?: string; value: ParamValue }[]) =>
  Object.fromEntries(args.flatMap((a) => (a.name === undefined ? [] : [[a.name, a.value]])));

/** Each institution's worlds, with their overrides, as the experiments and sweeps pair them. */
export function institutionPairings(
  experiments: readonly IrExperiment[],
  sweeps: readonly IrSweep[],
  worlds: Worlds,
): Map<string, Pairing[]> {
  const pairings = new Map<string, Pairing[]>();
  const add = (
    institution: string,
    world: string,
    overrides: Readonly<Record<string, ParamValue>>,
  ) => {
    const ir = worlds.get(world);
    if (!ir || institution === 'none') return;
    pairings.set(institution, [...(pairings.get(institution) ?? []), { world: ir, overrides }]);
  };
  for (const e of experiments) add(e.institution.name, e.market.name, e.market.overrides);
  for (const sweep of sweeps) {
    const base = experiments.find((e) => e.name === sweep.base);
    if (!base) continue;
    for (const factor of sweep.factors) {
      for (const level of factor.levels ?? []) {
        if (level.kind !== 'ref') continue;
        if (factor.target.kind === 'institution')
          add(level.ref.name, base.market.name, base.market.overrides);
        if (factor.target.kind === 'market' || factor.target.kind === 'environment')
          add(base.institution.name, level.ref.name, overridesOf(level.ref.args));
      }
    }
  }
  return pairings;
}

/**
 * The context an institution paired with these worlds is checked in on its own: the first
 * world's observables, and every name an agent or a product has in any of them.
 */
export function pairedContext(pairings: readonly Pairing[]): MarketContext | undefined {
  const first = pairings[0];
  if (!first) return undefined;
  const firms = new Set<string>();
  const products = new Set<string>();
  for (const { world, overrides } of pairings) {
    for (const name of agentNames(world, paramValues(world.params, overrides))) firms.add(name);
    if (world.kind === 'market') for (const p of world.products) products.add(p);
  }
  return { ...worldContext(first.world), firmNames: firms, productNames: products };
}
