import type { StateDecl } from '../grammar/ast.js';
import { type Diagnostic, diagnostic } from '../grammar/diagnostics.js';
import { printExpr } from '../grammar/print.js';
import { isSanctionState } from './classify.js';
import { constantValue } from './constant.js';
import type { IrExpr, IrInstitution, IrTransition, ParamValue } from './ir.js';
import { natives } from './natives.js';

/**
 * Institution lints: problems of the governance graph as a whole rather than of one
 * expression. Each is a warning — the institution still compiles.
 */
export function lintInstitution(
  institution: IrInstitution,
  decls: readonly StateDecl[],
  path: string,
): Diagnostic[] {
  const out: Diagnostic[] = [];
  const initial = institution.initial;
  if (!initial) return out;
  const params = new Map(institution.params.map((p) => [p.name, p.value]));
  const byName = new Map(institution.states.map((s) => [s.name, s]));
  const declByName = new Map(decls.map((d) => [d.name.name, d]));
  const rangeOf = (state: string) =>
    declByName.get(state)?.name.range ?? institution.states[0]?.range;

  const reachable = reach(byName, initial);
  // One backward search instead of a forward search per state.
  const canReturn = reachBackwards(institution, initial);
  for (const s of institution.states) {
    const range = rangeOf(s.name);
    if (!range) continue;
    if (!reachable.has(s.name)) {
      out.push(
        diagnostic(
          'W_UNREACHABLE_STATE',
          path,
          range,
          `no transition leads to state \`${s.name}\` from \`${initial}\``,
          'add a transition into it, or delete it',
        ),
      );
      continue;
    }
    if (!isSanctionState(s)) continue;
    if (s.transitions.length === 0) {
      out.push(
        diagnostic(
          'W_ABSORBING_STATE',
          path,
          range,
          `state \`${s.name}\` punishes and has no way out: a firm that enters it stays forever`,
          `add a restoration path, e.g. \`after 5 rounds -> ${initial}\``,
        ),
      );
    } else if (!canReturn.has(s.name)) {
      out.push(
        diagnostic(
          'W_NO_RESTORATION',
          path,
          range,
          `no path leads from sanction state \`${s.name}\` back to \`${initial}\``,
          'graduated sanctions should end: add a transition that restores good standing',
        ),
      );
    }
  }

  // Sanction states that only time, never evidence, can lead to.
  const withEvidence = reachWithEvidence(byName, initial);
  for (const s of institution.states) {
    const range = rangeOf(s.name);
    if (range && isSanctionState(s) && reachable.has(s.name) && !withEvidence.has(s.name)) {
      out.push(
        diagnostic(
          'W_SANCTION_WITHOUT_EVIDENCE',
          path,
          range,
          `sanction state \`${s.name}\` can be reached without any monitored evidence`,
          'guard a transition on the way with a monitor or market observable',
        ),
      );
    }
  }

  for (const s of institution.states) {
    const ts = s.transitions;
    for (let i = 0; i < ts.length; i++) {
      for (let j = i + 1; j < ts.length; j++) {
        const a = ts[i] as IrTransition;
        const b = ts[j] as IrTransition;
        if (a.declaredPriority && b.declaredPriority && a.priority !== b.priority) continue;
        if (a.target === b.target) continue;
        if (disjoint(a.condition, b.condition, params)) continue;
        out.push(
          diagnostic(
            'W_AMBIGUOUS_GUARDS',
            path,
            b.range,
            `in state \`${s.name}\`, the transitions to \`${a.target}\` and \`${b.target}\` can hold in the same round`,
            `declare which wins: add \`priority N\` to both (higher wins); now the earlier one (to \`${a.target}\`) wins`,
          ),
        );
      }
    }
  }
  out.push(...eachRoundSkipsEntry(institution, decls, path));
  return out;
}

/**
 * A bare `each round fine E` (or `credit`) in a state without an entry fine (credit) of
 * its own leaves the round of entry free, which is easy to miss. Where no transition
 * enters the state (an initial state nothing leads back to: starting is not an entry),
 * there is no such round.
 */
function eachRoundSkipsEntry(
  institution: IrInstitution,
  decls: readonly StateDecl[],
  path: string,
): Diagnostic[] {
  const entered = new Set(institution.states.flatMap((s) => s.transitions.map((t) => t.target)));
  const out: Diagnostic[] = [];
  for (const decl of decls) {
    if (!entered.has(decl.name.name)) continue;
    const sanctions = decl.items.flatMap((i) => (i.kind === 'sanction' ? [i] : []));
    for (const item of sanctions) {
      if (item.timing !== 'each_round' || item.afterEntry) continue;
      if (sanctions.some((s) => s.timing === 'entry' && s.sanction === item.sanction)) continue;
      const amount = printExpr(item.amount);
      const verb = item.sanction === 'fine' ? 'charge' : 'credit';
      out.push(
        diagnostic(
          'W_EACH_ROUND_SKIPS_ENTRY',
          path,
          item.range,
          `the round state \`${decl.name.name}\` is entered in carries no ${item.sanction} from this item: \`each round\` starts in the round after entry`,
          `write \`${item.sanction} ${amount}\` as well to ${verb} the round of entry too, or \`each round after entry ${item.sanction} ${amount}\` to say that the round of entry is meant to be free`,
        ),
      );
    }
  }
  return out;
}

type StatesByName = ReadonlyMap<string, IrInstitution['states'][number]>;

function reach(byName: StatesByName, from: string): Set<string> {
  const seen = new Set([from]);
  const queue = [from];
  for (let head = 0; head < queue.length; head++) {
    for (const t of byName.get(queue[head] as string)?.transitions ?? []) {
      if (!seen.has(t.target)) {
        seen.add(t.target);
        queue.push(t.target);
      }
    }
  }
  return seen;
}

/** States from which `to` can be reached. */
function reachBackwards(institution: IrInstitution, to: string): Set<string> {
  const into = new Map<string, string[]>();
  for (const s of institution.states) {
    for (const t of s.transitions) {
      const sources = into.get(t.target) ?? [];
      sources.push(s.name);
      into.set(t.target, sources);
    }
  }
  const seen = new Set([to]);
  const queue = [to];
  for (let head = 0; head < queue.length; head++) {
    for (const source of into.get(queue[head] as string) ?? []) {
      if (!seen.has(source)) {
        seen.add(source);
        queue.push(source);
      }
    }
  }
  return seen;
}

/** States reachable by a path that crosses at least one evidence-driven `when` transition. */
function reachWithEvidence(byName: StatesByName, initial: string): Set<string> {
  const seen = new Set<string>();
  const visited = new Set<string>([`${initial}|0`]);
  const queue: [string, boolean][] = [[initial, false]];
  for (let head = 0; head < queue.length; head++) {
    const [current, evidence] = queue[head] as [string, boolean];
    if (evidence) seen.add(current);
    for (const t of byName.get(current)?.transitions ?? []) {
      const next =
        evidence || (t.kind === 'when' && t.condition !== undefined && readsEvidence(t.condition));
      const key = `${t.target}|${next ? 1 : 0}`;
      if (!visited.has(key)) {
        visited.add(key);
        queue.push([t.target, next]);
      }
    }
  }
  return seen;
}

export function readsEvidence(e: IrExpr): boolean {
  switch (e.op) {
    case 'observable':
    case 'monitor':
      return true;
    case 'unary':
      return readsEvidence(e.operand);
    case 'binary':
      return readsEvidence(e.left) || readsEvidence(e.right);
    case 'call':
      return natives.get(e.fn)?.kind === 'evidence' || e.args.some(readsEvidence);
    case 'window':
      return readsEvidence(e.value);
    case 'index':
      return readsEvidence(e.target);
    case 'element':
      return readsEvidence(e.index);
    case 'if':
      return readsEvidence(e.condition) || readsEvidence(e.then) || readsEvidence(e.otherwise);
    default:
      return false;
  }
}

// ---- a small satisfiability check for guard overlap ---------------------------------------------
// A guard is read as a conjunction of atoms `expr op constant` or `[not] bool-expr`; two guards are
// disjoint when some shared subject has incompatible constraints. Anything else may overlap.

interface Interval {
  low: number;
  lowOpen: boolean;
  high: number;
  highOpen: boolean;
}

type Atom = { subject: string; interval: Interval } | { subject: string; truth: boolean };

function atoms(
  e: IrExpr | undefined,
  params: ReadonlyMap<string, ParamValue>,
  negated = false,
): Atom[] | undefined {
  if (!e) return [];
  if (e.op === 'binary' && e.operator === 'and' && !negated) {
    const a = atoms(e.left, params);
    const b = atoms(e.right, params);
    return a && b ? [...a, ...b] : undefined;
  }
  if (e.op === 'binary' && e.operator === 'or' && negated) {
    const a = atoms(e.left, params, true);
    const b = atoms(e.right, params, true);
    return a && b ? [...a, ...b] : undefined;
  }
  if (e.op === 'unary' && e.operator === 'not') return atoms(e.operand, params, !negated);
  if (e.op === 'binary' && ['<', '<=', '>', '>='].includes(e.operator)) {
    let op = e.operator;
    // Thresholds are usually parameters: fold them to their values.
    let subject = e.left;
    let c = constantValue(e.right, params);
    if (c === undefined) {
      c = constantValue(e.left, params);
      subject = e.right;
      op = { '<': '>', '<=': '>=', '>': '<', '>=': '<=' }[op] as string;
    }
    if (c === undefined || constantValue(subject, params) !== undefined) return undefined;
    if (negated) op = { '<': '>=', '<=': '>', '>': '<=', '>=': '<' }[op] as string;
    const interval: Interval =
      op === '<'
        ? { low: -Infinity, lowOpen: true, high: c, highOpen: true }
        : op === '<='
          ? { low: -Infinity, lowOpen: true, high: c, highOpen: false }
          : op === '>'
            ? { low: c, lowOpen: true, high: Infinity, highOpen: true }
            : { low: c, lowOpen: false, high: Infinity, highOpen: true };
    return [{ subject: subject.text, interval }];
  }
  if (
    e.type.base === 'bool' &&
    (e.op === 'monitor' || e.op === 'call' || e.op === 'index' || e.op === 'observable')
  ) {
    return [{ subject: e.text, truth: !negated }];
  }
  return undefined;
}

function intervalsMeet(a: Interval, b: Interval): boolean {
  const low = Math.max(a.low, b.low);
  const high = Math.min(a.high, b.high);
  if (low < high) return true;
  if (low > high) return false;
  const lowOpen = (a.low === low && a.lowOpen) || (b.low === low && b.lowOpen);
  const highOpen = (a.high === high && a.highOpen) || (b.high === high && b.highOpen);
  return !lowOpen && !highOpen;
}

export function disjoint(
  a: IrExpr | undefined,
  b: IrExpr | undefined,
  params: ReadonlyMap<string, ParamValue> = new Map(),
): boolean {
  const left = atoms(a, params);
  const right = atoms(b, params);
  if (!left || !right) return false;
  for (const x of left) {
    for (const y of right) {
      if (x.subject !== y.subject) continue;
      if ('truth' in x && 'truth' in y && x.truth !== y.truth) return true;
      if ('interval' in x && 'interval' in y && !intervalsMeet(x.interval, y.interval)) return true;
    }
  }
  return false;
}
