import type { IrInstitution, IrRule, IrState, IrTransition, StateKind } from './ir.js';

/**
 * The one classification of states and edges that the lints, the manifest, the diagram,
 * the run's metrics and its reports all read (docs/language.md, "State kinds and
 * restorative edges"). Nothing else decides what is a sanction or a restoration.
 */

/** The effects of a state that decide its kind. */
export interface StateEffects {
  readonly notices: readonly unknown[];
  readonly sanctions: readonly { readonly sanction: 'fine' | 'credit' }[];
  readonly cap?: unknown;
  readonly floor?: unknown;
  readonly suspend: boolean;
  readonly mute?: boolean;
  readonly quarantine?: boolean;
  readonly paraphrase?: boolean;
}

/**
 * A punitive effect (a fine, a cap, a floor, a suspension, a mute, a quarantine, a paraphrase) makes a sanction state, whatever
 * else the state does; a credit without one makes a credit state, with or without notices;
 * notices alone make a warning state.
 */
export function stateKind(effects: StateEffects, initial: boolean): StateKind {
  if (initial) return 'initial';
  const punitive =
    effects.suspend ||
    effects.mute === true ||
    effects.quarantine === true ||
    effects.paraphrase === true ||
    effects.cap !== undefined ||
    effects.floor !== undefined ||
    effects.sanctions.some((x) => x.sanction === 'fine');
  if (punitive) return 'sanction';
  if (effects.sanctions.some((x) => x.sanction === 'credit')) return 'credit';
  if (effects.notices.length > 0) return 'warning';
  return 'normal';
}

/** How far a kind stands from good standing: an implicit restoration lowers it. */
const SEVERITY: Record<StateKind, number> = {
  initial: 0,
  normal: 0,
  credit: 0,
  warning: 1,
  sanction: 2,
};

/**
 * Sanction states in the wide sense: those that record a judgement against the firm (a
 * warning or a sanction). The graph lints and the institution's error rates
 * (docs/metrics.md) count these.
 */
export function isSanctionState(state: Pick<IrState, 'kind'>): boolean {
  return state.kind === 'warning' || state.kind === 'sanction';
}

/** The names of the institution's sanction states (warning and sanction kinds). */
export function sanctionStates(institution: Pick<IrInstitution, 'states'>): string[] {
  return institution.states.filter(isSanctionState).map((s) => s.name);
}

/**
 * An edge is restorative when it is declared `restore`, or when it is an `after` edge that
 * cites no obligation or prohibition (no rule, or a `may` rule) and leads to the initial
 * state or to a less severe state. A `when` edge is triggered by evidence and never
 * implicitly restorative; neither is an edge that enforces a `must` or `must not` rule.
 */
export function isRestorative(
  t: Pick<IrTransition, 'kind' | 'source' | 'target' | 'rule'>,
  declared: boolean,
  institution: Pick<IrInstitution, 'states' | 'rules' | 'initial'>,
): boolean {
  if (declared) return true;
  if (t.kind !== 'after' || t.source === t.target) return false;
  const rule: IrRule | undefined = institution.rules.find((r) => r.id === t.rule);
  if (rule && rule.deontic !== 'may') return false;
  if (t.target === institution.initial) return true;
  const source = institution.states.find((s) => s.name === t.source);
  const target = institution.states.find((s) => s.name === t.target);
  return (
    source !== undefined && target !== undefined && SEVERITY[target.kind] < SEVERITY[source.kind]
  );
}
