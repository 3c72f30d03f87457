import type { Range } from '../grammar/ast.js';
import type { DiagnosticCode } from '../grammar/diagnostics.js';
import { constantValue, paramsRead } from './constant.js';
import { paramTensor } from './evaluate.js';
import { agentNames, paramValues } from './instantiate.js';
import type { IrExpr, IrInstitution, IrParam, IrWorld, ParamValue } from './ir.js';

/**
 * The checks a parameter value gets wherever it comes from: a source's defaults and
 * overrides (compiler/check.ts), `--param` (runtime/run/resolve.ts) and a sweep's cells
 * (runtime/sweep/plan.ts). The checker walks the source to place its diagnostics; the
 * runtime walks the compiled program; both ask the questions below and say the same words.
 */

/** The most firms a market may have. */
export const MAX_FIRMS = 100_000;

/** What an agent count must be, or undefined when it is sound (`firms`, `fishers`, …). */
export function firmCountProblem(count: number | undefined, plural = 'firms'): string | undefined {
  return count === undefined || !Number.isInteger(count) || count < 1 || count > MAX_FIRMS
    ? `the number of ${plural} must be a whole number from 1 to 100,000 (it is ${count ?? 'not fixed'})`
    : undefined;
}

/** A value computed from parameters, what it is, and the rule it must meet. */
export interface ValueRule {
  readonly what: string;
  readonly problem: (n: number) => string | undefined;
}

export const ROUND_COUNT: ValueRule = {
  what: 'a number of rounds',
  problem: (n) =>
    Number.isInteger(n) && n >= 1 ? undefined : 'must be a whole number of at least 1',
};

const probability = (what: string): ValueRule => ({
  what,
  problem: (n) => (n >= 0 && n <= 1 ? undefined : 'must be between 0 and 1'),
});
export const DETECTION = probability('the detection probability');
export const FALSE_POSITIVE = probability('the false-positive rate');

/**
 * What is wrong with a constant position in a list parameter of `length` values, if
 * anything: positions are whole numbers from 1 to the length (docs/language.md, "Lists").
 */
export function listPositionProblem(
  list: string,
  length: number,
  position: number,
  /** The position as written, when it is not the number itself (`k`, `n + 1`). */
  written?: string,
): string | undefined {
  const values = `${length} value${length === 1 ? '' : 's'}`;
  const at =
    written === undefined || written === String(position)
      ? `${position}`
      : `${position} (\`${written}\`)`;
  if (!Number.isInteger(position))
    return `a position in \`${list}\` must be a whole number (it is ${at})`;
  if (position < 1)
    return `positions in \`${list}\` count from 1 (it has ${values}); ${at} is before the first`;
  if (position > length) return `\`${list}\` has ${values}; position ${at} is past its end`;
  return undefined;
}

type ElementNode = Extract<IrExpr, { op: 'element' }>;

/** Every `list[position]` node in a piece of checked IR (any declaration, any depth). */
function elementNodes(ir: unknown, out: ElementNode[] = []): ElementNode[] {
  if (Array.isArray(ir)) for (const x of ir) elementNodes(x, out);
  else if (ir !== null && typeof ir === 'object') {
    const node = ir as Partial<ElementNode>;
    if (node.op === 'element' && typeof node.list === 'string') out.push(node as ElementNode);
    for (const value of Object.values(ir)) elementNodes(value, out);
  }
  return out;
}

/** Whether some list parameter is read at a position known only during the run (`schedule[visits(fined)]`). */
export function readsListsAtRunTime(
  ir: IrWorld | IrInstitution,
  values: ReadonlyMap<string, ParamValue>,
): boolean {
  return elementNodes(ir).some((e) => constantValue(e.index, values) === undefined);
}

/**
 * Constant positions in list parameters (`schedule[3]`, `schedule[k]`) that fall outside
 * their list with these values (a shorter list given as an override, a larger `k`).
 */
export function listPositionProblems(
  ir: IrWorld | IrInstitution,
  values: ReadonlyMap<string, ParamValue>,
): ValueProblem[] {
  const problems = new Map<string, ValueProblem>();
  for (const e of elementNodes(ir)) {
    const list = values.get(e.list);
    const at = constantValue(e.index, values);
    if (!Array.isArray(list) || at === undefined) continue;
    const message = listPositionProblem(e.list, list.length, at, e.index.text);
    if (message)
      problems.set(e.text, {
        code: 'E_VALUE',
        message,
        param: e.list,
        subject: `\`${e.text}\``,
      });
  }
  return [...problems.values()];
}

/**
 * The message of a value that breaks its rule: `a number of rounds must be … (it is -3)`,
 * naming what was written for it when that reads parameters (`a number of rounds
 * (\`persistence\`) must be …`), so that an override's mistake names the parameter.
 */
export function ruleMessage(rule: ValueRule, value: number, written?: string): string | undefined {
  const problem = rule.problem(value);
  const what = written === undefined ? rule.what : `${rule.what} (\`${written}\`)`;
  return problem ? `${what} ${problem} (it is ${value})` : undefined;
}

/** A parameter value that does not fit where it is used. */
export interface ValueProblem {
  readonly code: DiagnosticCode;
  readonly message: string;
  /** The parameter the problem is about, when one is. */
  readonly param?: string;
  /** Where in the declaring source the value is used, when known. */
  readonly at?: { readonly path: string; readonly range: Range };
  /** Which value of the declaration it is (monitor `m`'s detection, `transition at OFFSET`), to tell problems apart. */
  readonly subject?: string;
  /** The parameters the value is computed from: an override of one of them caused it. */
  readonly reads?: readonly string[];
}

/**
 * The agents of a world for these values and the problems with the values: a whole,
 * positive number of agents, and lists with one entry per agent (and per product).
 */
export function marketValueProblems(
  world: IrWorld,
  values: ReadonlyMap<string, ParamValue>,
): { readonly firms?: readonly string[]; readonly problems: readonly ValueProblem[] } {
  const declared = world.kind === 'market' ? world.firms : world.agents;
  if ('count' in declared) {
    const count = constantValue(declared.count, values);
    const problem = firmCountProblem(count, world.kind === 'market' ? 'firms' : `${world.axis}s`);
    if (problem) {
      const param = declared.count.op === 'param' ? declared.count.name : undefined;
      return { problems: [{ code: 'E_VALUE', message: problem, ...(param ? { param } : {}) }] };
    }
  }
  const firms = agentNames(world, values);
  const problems = listLengthProblems(world.params, values, {
    firms: firms.length,
    products: world.kind === 'market' ? world.products.length : 1,
  });
  if (world.kind === 'environment') problems.push(...actionBoundProblems(world, values));
  problems.push(...listPositionProblems(world, values));
  return { firms, problems };
}

/**
 * An environment's action bounds and step where they are single numbers for these
 * values (bounds that differ per agent are checked when the run starts): the lower bound
 * may not be above the upper one, and a step must be positive.
 */
function actionBoundProblems(
  env: Extract<IrWorld, { kind: 'environment' }>,
  values: ReadonlyMap<string, ParamValue>,
): ValueProblem[] {
  const { action } = env;
  if (action.options) return [];
  const low = constantValue(action.low, values);
  const high = constantValue(action.high, values);
  const step = action.step ? constantValue(action.step, values) : undefined;
  const problems: ValueProblem[] = [];
  const paramOf = (e: typeof action.low) => (e.op === 'param' ? { param: e.name } : {});
  if (low !== undefined && high !== undefined && low > high)
    problems.push({
      code: 'E_VALUE',
      message: `the lower bound of \`${action.variable}\` (${low}) is above its upper bound (${high})`,
      ...paramOf(action.high),
    });
  if (step !== undefined && !(step > 0) && action.step)
    problems.push({
      code: 'E_VALUE',
      message: `the step of \`${action.variable}\` must be positive (it is ${step})`,
      ...paramOf(action.step),
    });
  return problems;
}

export function listLengthProblems(
  params: readonly IrParam[],
  values: ReadonlyMap<string, ParamValue>,
  dims: { readonly firms: number; readonly products: number },
): ValueProblem[] {
  const problems: ValueProblem[] = [];
  for (const p of params) {
    if (p.type.axes.length === 0) continue;
    const value = values.get(p.name);
    if (value === undefined) continue;
    const fitted = paramTensor(p.type, value, dims);
    if (typeof fitted === 'string')
      problems.push({ code: 'E_PARAM_TYPE', message: `\`${p.name}\` ${fitted}`, param: p.name });
  }
  return problems;
}

/**
 * An institution's values where it uses them before the run: round counts of its
 * transitions, detection and false-positive probabilities of its monitors.
 */
export function institutionValueProblems(
  institution: IrInstitution,
  values: ReadonlyMap<string, ParamValue>,
): ValueProblem[] {
  const problems: ValueProblem[] = [];
  const check = (
    rule: ValueRule,
    subject: string,
    expr: Parameters<typeof constantValue>[0] | undefined,
    range?: Range,
  ) => {
    if (!expr) return;
    const value = constantValue(expr, values);
    const reads = paramsRead(expr);
    const message =
      value === undefined
        ? undefined
        : ruleMessage(rule, value, reads.length > 0 ? expr.text : undefined);
    if (message)
      problems.push({
        code: 'E_VALUE',
        message,
        subject,
        ...(range ? { at: { path: institution.path, range } } : {}),
        ...(reads.length > 0 ? { reads } : {}),
      });
  };
  for (const m of institution.monitors) {
    check(DETECTION, `monitor \`${m.name}\`'s detection`, m.detection);
    check(FALSE_POSITIVE, `monitor \`${m.name}\`'s false_positive`, m.falsePositive);
  }
  for (const s of institution.states)
    for (const t of s.transitions)
      check(ROUND_COUNT, `transition at ${t.range.start.offset}`, t.rounds, t.range);
  problems.push(...listPositionProblems(institution, values));
  return problems;
}

/**
 * Everything a market and an institution with their overrides must meet together: the
 * market's values, the institution's lists against the market's firms and products, and
 * the institution's values. Institution messages read as the checker words them at an
 * experiment's `institution` item: `with these overrides, NAME: …`.
 */
export function overrideProblems(use: {
  readonly market: IrWorld;
  readonly marketOverrides: Readonly<Record<string, ParamValue>>;
  readonly institution: IrInstitution;
  readonly institutionOverrides: Readonly<Record<string, ParamValue>>;
}): ValueProblem[] {
  const market = marketValueProblems(
    use.market,
    paramValues(use.market.params, use.marketOverrides),
  );
  const values = paramValues(use.institution.params, use.institutionOverrides);
  const lists = market.firms
    ? listLengthProblems(use.institution.params, values, {
        firms: market.firms.length,
        products: use.market.kind === 'market' ? use.market.products.length : 1,
      })
    : [];
  const institution = institutionValueProblems(use.institution, values).map((p) => ({
    ...p,
    message: `with these overrides, ${use.institution.name}: ${p.message}`,
  }));
  return [...market.problems, ...lists, ...institution];
}
