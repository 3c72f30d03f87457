// Checking `sweep` declarations: the base experiment, factor targets and levels, designs,
// replicates and budgets.
import type {
  Expr,
  FactorDecl,
  FactorLevel,
  ParamDecl,
  PolicyRef,
  Range,
  SweepDecl,
  SweepItem,
} from '../../grammar/ast.js';
import { didYouMean } from '../../grammar/suggest.js';
import type {
  IrExperiment,
  IrFactor,
  IrFactorLevel,
  IrFactorTarget,
  IrParam,
  IrPolicy,
  IrSweep,
  IrWorld,
  ParamValue,
} from '../ir.js';
import { sweepSizeProblem } from '../sweep-size.js';
import { describeType } from '../types.js';
import {
  checkParams,
  literalValue,
  misfitMessage,
  onlyOnce,
  quoteHint,
  Reporter,
  valueFits,
} from './common.js';
import {
  checkInstitutionUse,
  checkMarketUse,
  checkOverrides,
  checkPolicy,
  continuationValue,
  horizonWord,
  integerLiteral,
} from './experiment.js';
import { checkMarketValues, paramValuesOf } from './market.js';
import { checkPoliciesAcrossWorlds, checkPolicyName, type RuntimePolicies } from './policies.js';
import type { SymbolTable, Worlds } from './symbols.js';

/** Every form a factor's target takes, for hints. */
export const FACTOR_TARGETS = [
  'market',
  'environment',
  'institution',
  'market.PARAM',
  'environment.PARAM',
  'institution.PARAM',
  'agents',
  'agents.FIRM',
  'rounds',
  'memory',
  'talk',
  'horizon',
  'continuation',
] as const;
export const TARGET_WORDS = FACTOR_TARGETS.filter((t) => !t.includes('.'));
export const DESIGNS = 'designs: `grid`, `random(N)`, `latin_hypercube(N)`';
export const GRID_RANGE_HINT =
  'give levels (`= a | b`), or use `design random(N)` / `design latin_hypercube(N)`';

/** What a sweep's factors are checked against: its base experiment, resolved. */
export interface SweepBase {
  readonly experiment: IrExperiment;
  readonly market?: IrWorld;
  /** The base's firms, when its market and overrides are sound. */
  readonly firmNames?: string[];
  /** Absent when the base's institution is unknown (reported there): nothing to check against. */
  readonly institutionParams?: readonly IrParam[];
}

export function sweepBase(
  experiment: IrExperiment,
  symbols: SymbolTable,
  markets: Worlds,
): SweepBase {
  // The experiment has been checked and has reported its own problems.
  const silent = new Reporter();
  const market = markets.get(experiment.market.name);
  const nowhere = () => ({
    start: { line: 1, column: 1, offset: 0 },
    end: { line: 1, column: 1, offset: 0 },
  });
  const firmNames = market
    ? checkMarketValues(
        market,
        paramValuesOf(market.params, experiment.market.overrides),
        experiment.path,
        nowhere,
        silent,
      )
    : undefined;
  const institution = symbols.institutions.get(experiment.institution.name);
  const institutionParams = institution
    ? checkParams(
        institution.decl.items.filter((i): i is ParamDecl => i.kind === 'param'),
        institution.path,
        silent,
      )
    : experiment.institution.name === 'none'
      ? []
      : undefined;
  return {
    experiment,
    ...(market ? { market } : {}),
    ...(firmNames ? { firmNames } : {}),
    ...(institutionParams ? { institutionParams } : {}),
  };
}

/** A factor's target, with the parameter it varies (`market.PARAM`, `environment.PARAM`, `institution.PARAM`). */
export interface ResolvedTarget {
  readonly target: IrFactorTarget;
  readonly param?: IrParam;
  /** How the target reads in messages: `market.intercept`, `rounds`. */
  readonly text: string;
}

export function factorTarget(
  factor: FactorDecl,
  base: SweepBase | undefined,
  path: string,
  reporter: Reporter,
): ResolvedTarget | undefined {
  const word = factor.target.name;
  const member = factor.member;
  const text = member ? `${word}.${member.name}` : word;
  switch (word) {
    case 'market':
    case 'environment':
    case 'institution': {
      if (word !== 'institution' && base && worldKind(base.experiment) !== word) {
        // A sweep varies the world of its base's kind: markets and environments differ in
        // what they declare, what they record and what the results store holds.
        const kind = worldKind(base.experiment);
        return reporter.report(
          'E_SCOPE',
          path,
          factor.target.range,
          `\`${text}\` varies ${word === 'market' ? 'a market' : 'an environment'}, but experiment \`${base.experiment.name}\` runs in ${kind} \`${base.experiment.market.name}\``,
          `write \`factor ${kind}${member ? `.${member.name}` : ''} = …\`; a sweep varies worlds of its base experiment's kind`,
        );
      }
      if (!member) return { target: { kind: word }, text };
      if (!base) return undefined;
      const params = word === 'institution' ? base.institutionParams : base.market?.params;
      if (!params) return undefined;
      const owner =
        word === 'institution' ? base.experiment.institution.name : base.experiment.market.name;
      const param = params.find((p) => p.name === member.name);
      if (!param) {
        return reporter.report(
          'E_UNKNOWN_PARAM',
          path,
          member.range,
          `${word} \`${owner}\` of experiment \`${base.experiment.name}\` has no parameter \`${member.name}\``,
          didYouMean(
            member.name,
            params.map((p) => p.name),
          ) ??
            (params.length
              ? `parameters: ${params.map((p) => p.name).join(', ')}`
              : `\`${owner}\` has no parameters`),
        );
      }
      return { target: { kind: 'param', owner: word, name: param.name }, param, text };
    }
    case 'agents': {
      if (!member) return { target: { kind: 'agents' }, text };
      const firms = base?.firmNames;
      if (base && firms && !firms.includes(member.name)) {
        const agent = base.market?.kind === 'environment' ? base.market.axis : 'firm';
        return reporter.report(
          'E_UNKNOWN_NAME',
          path,
          member.range,
          `${worldKind(base.experiment)} \`${base.experiment.market.name}\` of experiment \`${base.experiment.name}\` has no ${agent} \`${member.name}\``,
          didYouMean(member.name, firms) ?? `${agent}s: ${firms.join(', ')}`,
        );
      }
      return { target: { kind: 'agents', firm: member.name }, text };
    }
    case 'rounds':
    case 'memory':
    case 'talk':
    case 'horizon':
    case 'continuation':
      if (member) {
        return reporter.report(
          'E_UNKNOWN_NAME',
          path,
          member.range,
          `\`${word}\` has no parts to vary; a factor varies \`${word}\` as a whole`,
          `write \`factor ${word} = …\``,
        );
      }
      return { target: { kind: word }, text };
    default:
      return reporter.report(
        'E_UNKNOWN_NAME',
        path,
        factor.target.range,
        `a factor cannot vary \`${text}\``,
        didYouMean(word, TARGET_WORDS) ?? `targets: ${FACTOR_TARGETS.join(', ')}`,
      );
  }
}

/** The kind of world an experiment runs in. */
export const worldKind = (experiment: IrExperiment): 'market' | 'environment' =>
  experiment.market.kind === 'environment' ? 'environment' : 'market';

export const rangeOfLevel = (level: FactorLevel): Range =>
  level.kind === 'ref' ? level.ref.range : level.value.range;

/** Named override values as policy arguments, in the order written. */
export const namedArgs = (overrides: Record<string, ParamValue>): IrPolicy['args'] =>
  Object.entries(overrides).map(([name, value]) => ({ name, value }));

export interface SweepScope {
  readonly path: string;
  readonly symbols: SymbolTable;
  readonly markets: Worlds;
  readonly reporter: Reporter;
  /** The runtime's generic policies, when the caller hands them in. */
  readonly policies?: RuntimePolicies;
}

export function checkLevel(
  level: FactorLevel,
  resolved: ResolvedTarget,
  base: SweepBase | undefined,
  scope: SweepScope,
): IrFactorLevel | undefined {
  const { path, symbols, markets, reporter } = scope;
  const { target, text } = resolved;
  const range = rangeOfLevel(level);
  const value = (v: ParamValue | undefined): IrFactorLevel | undefined =>
    v === undefined ? undefined : { kind: 'value', value: v };
  switch (target.kind) {
    case 'market':
    case 'environment': {
      if (level.kind !== 'ref')
        return reporter.report(
          'E_TYPE',
          path,
          range,
          `a level of \`${target.kind}\` names ${target.kind === 'market' ? 'a market' : 'an environment'}, with overrides if any`,
          target.kind === 'market' ? 'e.g. `cournot(firms: 3)`' : 'e.g. `commons(fishers: 3)`',
        );
      const used = checkMarketUse(
        level.ref.name,
        level.ref.args,
        path,
        symbols,
        markets,
        reporter,
        target.kind,
        true,
      );
      if (!used) return undefined;
      return { kind: 'ref', ref: { name: level.ref.name.name, args: namedArgs(used.overrides) } };
    }
    case 'institution': {
      if (level.kind !== 'ref')
        return reporter.report(
          'E_TYPE',
          path,
          range,
          'a level of `institution` names an institution, with overrides if any',
          'e.g. `governance_graph(fine_share: 0.5)` or `none`',
        );
      const { ref } = level;
      const overrides = checkInstitutionUse(
        {
          name: ref.name.name,
          nameRange: ref.name.range,
          useRange: ref.range,
          overrides: (params) => checkOverrides(ref.args, params, ref.name.name, path, reporter),
          rangeOf: (param) =>
            ref.args.find((a) => a.name?.name === param)?.value.range ?? ref.range,
        },
        marketOfBase(base),
        path,
        symbols,
        reporter,
      );
      if (!symbols.institutions.has(ref.name.name)) return undefined;
      return { kind: 'ref', ref: { name: ref.name.name, args: namedArgs(overrides) } };
    }
    case 'param': {
      const param = resolved.param;
      if (!param || !base) return undefined;
      const written = level.kind === 'value' ? literalValue(level.value) : undefined;
      if (written === undefined)
        return reporter.report(
          'E_PARAM_TYPE',
          path,
          range,
          `a level of \`${text}\` must be a literal value`,
          quoteHint(param, level.kind === 'ref' ? level.ref.name.name : undefined),
        );
      const problem = valueFits(param.type, written);
      if (problem)
        return reporter.report('E_PARAM_TYPE', path, range, misfitMessage(param, problem));
      checkParamLevel(target.owner, param.name, written, range, base, scope);
      return value(written);
    }
    case 'agents':
    case 'talk':
      if (level.kind !== 'ref')
        return reporter.report(
          'E_TYPE',
          path,
          range,
          target.kind === 'talk'
            ? 'a level of `talk` names a topology, with settings if any'
            : `a level of \`${text}\` names a policy, with arguments if any`,
          target.kind === 'talk'
            ? 'e.g. `none`, `ring`, `complete`, `small_world(k: 2, p: 0.1)`'
            : 'e.g. `nash`, `qlearning`, `llm(model: "local")`',
        );
      if (target.kind === 'agents')
        checkPolicyName(level.ref, base?.market, scope.policies, path, reporter);
      return { kind: 'ref', ref: checkPolicy(level.ref, path, reporter) };
    case 'horizon': {
      if (level.kind !== 'ref' || level.ref.args.length > 0)
        return reporter.report(
          'E_VALUE',
          path,
          range,
          'a level of `horizon` is `known` or `unknown`',
          'known: agents are told the number of rounds; unknown: they are not',
        );
      return value(horizonWord(level.ref.name, path, reporter));
    }
    case 'rounds':
    case 'memory': {
      const what = target.kind === 'rounds' ? 'the number of rounds' : 'the memory';
      const hint =
        target.kind === 'memory'
          ? 'the past rounds `llm` policies are shown: a whole number (0 = none) or "all"'
          : undefined;
      const written = level.kind === 'value' ? literalValue(level.value) : undefined;
      if (target.kind === 'memory' && written === 'all') return value('all');
      if (level.kind === 'ref' || (typeof written !== 'number' && written !== undefined))
        return reporter.report(
          'E_TYPE',
          path,
          range,
          target.kind === 'memory'
            ? 'the memory is a whole number of rounds or "all"'
            : `${what} must be a whole number`,
          hint,
        );
      return value(
        integerLiteral(level.value, what, path, reporter, target.kind === 'rounds' ? 1 : 0),
      );
    }
    case 'continuation':
      if (level.kind === 'ref')
        return reporter.report('E_TYPE', path, range, 'the continuation is a number');
      return value(continuationValue(level.value, path, reporter));
  }
}

export function marketOfBase(
  base: SweepBase | undefined,
): { ir: IrWorld; firmNames?: readonly string[] } | undefined {
  if (!base?.market) return undefined;
  return { ir: base.market, ...(base.firmNames ? { firmNames: base.firmNames } : {}) };
}

/**
 * A parameter level is checked as if the base experiment overrode it: against the firms
 * and products it implies, and (for an institution) by re-checking the institution.
 */
export function checkParamLevel(
  owner: 'market' | 'environment' | 'institution',
  name: string,
  written: ParamValue,
  range: Range,
  base: SweepBase,
  scope: SweepScope,
): void {
  const { path, symbols, reporter } = scope;
  const { experiment, market, firmNames } = base;
  // A base that does not check on its own has said so already.
  if (!market || !firmNames) return;
  if (owner !== 'institution') {
    const overrides = { ...experiment.market.overrides, [name]: written };
    checkMarketValues(market, paramValuesOf(market.params, overrides), path, () => range, reporter);
    return;
  }
  checkInstitutionUse(
    {
      name: experiment.institution.name,
      nameRange: range,
      useRange: range,
      overrides: () => ({ ...experiment.institution.overrides, [name]: written }),
      rangeOf: () => range,
    },
    { ir: market, firmNames },
    path,
    symbols,
    reporter,
  );
}

/** The numeric targets a range can be drawn for, and what their ends must be. */
export function checkBounds(
  bounds: NonNullable<FactorDecl['bounds']>,
  resolved: ResolvedTarget,
  base: SweepBase | undefined,
  scope: SweepScope,
): IrFactor['range'] | undefined {
  const { path, reporter } = scope;
  const { target, param, text } = resolved;
  let integer = false;
  let end: (e: Expr) => number | undefined;
  switch (target.kind) {
    case 'rounds':
    case 'memory': {
      integer = true;
      const what = target.kind === 'rounds' ? 'the number of rounds' : 'the memory';
      const minimum = target.kind === 'rounds' ? 1 : 0;
      end = (e) => integerLiteral(e, what, path, reporter, minimum);
      break;
    }
    case 'continuation':
      end = (e) => continuationValue(e, path, reporter);
      break;
    case 'param': {
      if (!param || !base) return undefined;
      if (param.type.base !== 'number' || param.type.axes.length > 0 || param.type.list)
        return reporter.report(
          'E_TYPE',
          path,
          bounds.range,
          `\`${param.name}\` is ${describeType(param.type)}; a range draws single numbers`,
          'give levels instead: `= a | b`',
        );
      // The one integer the type system knows of: a world's agent count.
      const firms = base.market?.kind === 'environment' ? base.market.agents : base.market?.firms;
      integer =
        target.owner !== 'institution' &&
        firms !== undefined &&
        'count' in firms &&
        firms.count.op === 'param' &&
        firms.count.name === param.name;
      end = integer
        ? (e) =>
            integerLiteral(
              e,
              `the number of ${base.market?.kind === 'environment' ? `${base.market.axis}s` : 'firms'} (\`${param.name}\`)`,
              path,
              reporter,
              1,
            )
        : (e) => {
            const v = literalValue(e);
            if (typeof v !== 'number')
              return reporter.report('E_TYPE', path, e.range, 'the ends of a range are numbers');
            if (!Number.isFinite(v))
              return reporter.report('E_VALUE', path, e.range, 'the ends of a range are finite');
            return v;
          };
      break;
    }
    default:
      return reporter.report(
        'E_TYPE',
        path,
        bounds.range,
        `\`${text}\` varies over levels, not over a numeric range`,
        `give levels instead: \`factor ${text} = a | b\``,
      );
  }
  const low = end(bounds.low);
  const high = end(bounds.high);
  if (low === undefined || high === undefined) return undefined;
  if (!(low < high))
    return reporter.report(
      'E_VALUE',
      path,
      bounds.range,
      `the range [${low}, ${high}] is empty: its low end must be below its high end`,
      'for a single value, write `= VALUE`',
    );
  if (target.kind === 'param' && base && target.owner === 'institution') {
    // Both ends are checked as levels are (the institution may refuse them, e.g. a round
    // count of 0); a value between them the institution refuses although the ends pass
    // means it takes whole numbers only (a round count): the range draws whole numbers.
    const before = reporter.diagnostics.length;
    checkParamLevel(target.owner, target.name, low, bounds.low.range, base, scope);
    checkParamLevel(target.owner, target.name, high, bounds.high.range, base, scope);
    if (reporter.diagnostics.length > before) return undefined;
    const silent = new Reporter();
    const between = (low + high) / 2 + (Number.isInteger((low + high) / 2) ? 0.5 : 0);
    checkParamLevel(target.owner, target.name, between, bounds.range, base, {
      ...scope,
      reporter: silent,
    });
    // (Ends that are not whole numbers were refused above, as levels.)
    if (silent.diagnostics.some((d) => d.severity === 'error')) integer = true;
  }
  return { low, high, integer };
}

export function checkFactor(
  factor: FactorDecl,
  base: SweepBase | undefined,
  scope: SweepScope,
): IrFactor | undefined {
  const resolved = factorTarget(factor, base, scope.path, scope.reporter);
  if (!resolved) return undefined;
  const name = factorName(factor);
  if (factor.bounds) {
    const range = checkBounds(factor.bounds, resolved, base, scope);
    return range ? { name, target: resolved.target, range } : undefined;
  }
  const levels: IrFactorLevel[] = [];
  const seen = new Set<string>();
  let ok = true;
  for (const level of factor.levels ?? []) {
    const checked = checkLevel(level, resolved, base, scope);
    if (!checked) {
      ok = false;
      continue;
    }
    const key = JSON.stringify(checked, (_, v) => (v === Number.POSITIVE_INFINITY ? 'inf' : v));
    if (seen.has(key)) {
      scope.reporter.report(
        'E_DUPLICATE',
        scope.path,
        rangeOfLevel(level),
        `this level of \`${name}\` is listed twice`,
        'each level is one column value; remove the repeat',
      );
      ok = false;
      continue;
    }
    seen.add(key);
    levels.push(checked);
  }
  return ok ? { name, target: resolved.target, levels } : undefined;
}

/** The column name: as written, or the target with `.` as `_` (`market.intercept` → `market_intercept`). */
export function factorName(factor: FactorDecl): string {
  if (factor.name) return factor.name.name;
  return factor.member ? `${factor.target.name}_${factor.member.name}` : factor.target.name;
}

export function factorNameRange(factor: FactorDecl): Range {
  if (factor.name) return factor.name.range;
  return { start: factor.target.range.start, end: (factor.member ?? factor.target).range.end };
}

/** Identifies what a target varies, so two factors cannot vary the same thing. */
export function targetKey(target: IrFactorTarget): string {
  switch (target.kind) {
    case 'param':
      return `${target.owner}.${target.name}`;
    case 'agents':
      return target.firm === undefined ? 'agents' : `agents.${target.firm}`;
    default:
      return target.kind;
  }
}

export function checkDesign(
  design: PolicyRef,
  path: string,
  reporter: Reporter,
): IrSweep['design'] | undefined {
  const name = design.name.name;
  if (name === 'grid') {
    if (design.args.length > 0)
      return reporter.report(
        'E_ARITY',
        path,
        design.range,
        '`grid` takes no arguments: it runs every combination of levels',
        'for a fixed number of points, use `random(N)` or `latin_hypercube(N)`',
      );
    return { kind: 'grid' };
  }
  if (name === 'random' || name === 'latin_hypercube') {
    const [points, ...rest] = design.args;
    if (!points || points.name || rest.length > 0)
      return reporter.report(
        'E_ARITY',
        path,
        design.range,
        `\`${name}\` takes one argument, the number of points`,
        `e.g. \`design ${name}(20)\``,
      );
    const n = integerLiteral(points.value, 'the number of points', path, reporter, 1);
    return n === undefined ? undefined : { kind: name, points: n };
  }
  return reporter.report(
    'E_UNKNOWN_NAME',
    path,
    design.name.range,
    `no design \`${name}\``,
    didYouMean(name, ['grid', 'random', 'latin_hypercube']) ?? DESIGNS,
  );
}

export function checkBudget(
  item: Extract<SweepItem, { kind: 'budget' }>,
  path: string,
  reporter: Reporter,
): IrSweep['budget'] | undefined {
  let tokens: number | undefined;
  let cost: number | undefined;
  const seen = new Set<string>();
  for (const limit of item.limits) {
    if (seen.has(limit.limit)) {
      reporter.report(
        'E_DUPLICATE',
        path,
        limit.range,
        `the ${limit.limit === 'tokens' ? 'token' : 'cost'} budget is given twice`,
      );
      continue;
    }
    seen.add(limit.limit);
    if (limit.limit === 'tokens') {
      tokens = integerLiteral(limit.value, 'the token budget', path, reporter, 1);
      continue;
    }
    const v = literalValue(limit.value);
    if (typeof v !== 'number')
      reporter.report('E_TYPE', path, limit.value.range, 'the cost budget is a number');
    else if (!(v > 0 && Number.isFinite(v)))
      reporter.report(
        'E_VALUE',
        path,
        limit.value.range,
        `the cost budget must be a positive number, not ${v}`,
        'leave `cost` out for no limit on cost',
      );
    else cost = v;
  }
  if (tokens === undefined && cost === undefined) return undefined;
  return { ...(tokens === undefined ? {} : { tokens }), ...(cost === undefined ? {} : { cost }) };
}

export function checkSweep(
  decl: SweepDecl,
  path: string,
  experiments: ReadonlyMap<string, IrExperiment | undefined>,
  symbols: SymbolTable,
  markets: Worlds,
  reporter: Reporter,
  policies?: RuntimePolicies,
): IrSweep | undefined {
  const scope: SweepScope = { path, symbols, markets, reporter, ...(policies ? { policies } : {}) };
  const twice = {
    base: 'a sweep has one base experiment; this is the second',
    design: 'the design is given twice',
    replicates: 'the number of replicates is given twice',
    seed: 'the seed is given twice',
    budget: 'the budget is given twice; write one `budget tokens N cost X`',
  } as const;
  for (const kind of ['base', 'design', 'replicates', 'seed', 'budget'] as const)
    onlyOnce(decl.items, kind, twice[kind], path, reporter);

  const baseItem = decl.items.find((i) => i.kind === 'base');
  let base: SweepBase | undefined;
  if (!baseItem) {
    reporter.report(
      'E_MISSING',
      path,
      decl.name.range,
      `sweep \`${decl.name.name}\` names no base experiment`,
      experiments.size > 0
        ? `add \`base NAME\`; experiments: ${[...experiments.keys()].join(', ')}`
        : 'declare an experiment and add `base NAME`',
    );
  } else if (!experiments.has(baseItem.experiment.name)) {
    const name = baseItem.experiment.name;
    reporter.report(
      'E_UNKNOWN_NAME',
      path,
      baseItem.experiment.range,
      `no experiment \`${name}\``,
      didYouMean(name, experiments.keys()) ??
        (experiments.size > 0
          ? `experiments: ${[...experiments.keys()].join(', ')}`
          : 'a sweep varies an experiment declared in the same sources'),
    );
  } else {
    const experiment = experiments.get(baseItem.experiment.name);
    // An experiment that does not check has reported why; its sweep is not checked further.
    if (experiment) base = sweepBase(experiment, symbols, markets);
  }

  const factorDecls = decl.items.filter((i): i is FactorDecl => i.kind === 'factor');
  if (factorDecls.length === 0) {
    reporter.report(
      'E_MISSING',
      path,
      decl.name.range,
      `sweep \`${decl.name.name}\` has no factor`,
      'add e.g. `factor agents = nash | qlearning`',
    );
  }
  const factors: IrFactor[] = [];
  const names = new Map<string, string>();
  const targets = new Map<string, string>();
  // Sound range factors, which a grid design cannot enumerate.
  const ranges: [FactorDecl, IrFactor][] = [];
  let factorsOk = true;
  for (const factor of factorDecls) {
    const name = factorName(factor);
    // Result tables tell columns apart without regard to case.
    const folded = name.toLowerCase();
    const other = names.get(folded);
    if (other !== undefined) {
      reporter.report(
        'E_DUPLICATE',
        path,
        factorNameRange(factor),
        other === name
          ? `factor \`${name}\` is declared twice`
          : `factors \`${other}\` and \`${name}\` differ only in case`,
        factor.name
          ? 'rename one of them'
          : `name this one: \`factor NAME: ${factor.member ? `${factor.target.name}.${factor.member.name}` : factor.target.name} …\``,
      );
      factorsOk = false;
      continue;
    }
    names.set(folded, name);
    // Without a base, what needs it (its parameters, its firms) goes unchecked.
    const checked = checkFactor(factor, base, scope);
    if (!checked) {
      factorsOk = false;
      continue;
    }
    const key = targetKey(checked.target);
    const earlier = targets.get(key);
    if (earlier !== undefined) {
      reporter.report(
        'E_DUPLICATE',
        path,
        factor.range,
        `factors \`${earlier}\` and \`${name}\` both vary \`${key}\``,
        'give one factor all the levels',
      );
      factorsOk = false;
      continue;
    }
    targets.set(key, name);
    factors.push(checked);
    if (checked.range) ranges.push([factor, checked]);
  }

  let design: IrSweep['design'] = { kind: 'grid' };
  let replicates = 1;
  let seed = 1;
  let budget: IrSweep['budget'];
  let itemsOk = true;
  let designOk = true;
  const first = new Set<string>();
  for (const item of decl.items) {
    if (item.kind === 'base' || item.kind === 'factor' || first.has(item.kind)) continue;
    first.add(item.kind);
    if (item.kind === 'design') {
      const checked = checkDesign(item.design, path, reporter);
      if (checked) design = checked;
      else designOk = false;
    } else if (item.kind === 'replicates' || item.kind === 'seed') {
      const what = item.kind === 'replicates' ? 'the number of replicates' : 'the seed';
      const n = integerLiteral(
        item.value,
        what,
        path,
        reporter,
        item.kind === 'replicates' ? 1 : 0,
      );
      if (n === undefined) itemsOk = false;
      else if (item.kind === 'replicates') replicates = n;
      else seed = n;
    } else if (item.kind === 'budget') {
      budget = checkBudget(item, path, reporter);
      if (!budget) itemsOk = false;
    }
  }
  const designWritten = decl.items.some((i) => i.kind === 'design');
  if (design.kind === 'grid' && designOk) {
    for (const [factor, checked] of ranges) {
      reporter.report(
        'E_VALUE',
        path,
        factor.bounds?.range ?? factor.range,
        `factor \`${checked.name}\` is a range, which ${designWritten ? 'a grid design' : 'the default design (`grid`)'} cannot enumerate`,
        GRID_RANGE_HINT,
      );
      factorsOk = false;
    }
  }

  if (base) checkPoliciesAcrossWorlds(factorDecls, base, markets, policies, path, reporter);
  if (!base || !factorsOk || !itemsOk || !designOk || factors.length === 0) return undefined;
  const tooLarge = sweepSizeProblem({ factors, design, replicates });
  if (tooLarge)
    return reporter.report(
      'E_VALUE',
      path,
      decl.name.range,
      tooLarge,
      'use fewer levels, points or replicates, or split the study into several sweeps',
    );
  return {
    kind: 'sweep',
    name: decl.name.name,
    title: decl.title ?? decl.name.name,
    path,
    base: base.experiment.name,
    factors,
    design,
    replicates,
    seed,
    ...(budget ? { budget } : {}),
  };
}

// ---- program ----------------------------------------------------------------------------------
