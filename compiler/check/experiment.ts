// Checking `experiment` declarations: the world and institution they use with their
// overrides, policies, rounds, seeds, horizon and talk.
import type {
  Argument,
  EnvironmentDecl,
  ExperimentDecl,
  Expr,
  MarketDecl,
  Name,
  Range,
} from '../../grammar/ast.js';
import { didYouMean } from '../../grammar/suggest.js';
import type { IrExperiment, IrParam, IrPolicy, IrWorld, ParamValue } from '../ir.js';
import { institutionValueProblems, listLengthProblems } from '../param-values.js';
import { literalValue, misfitMessage, onlyOnce, quoteHint, Reporter, valueFits } from './common.js';
import { checkInstitution, worldContext } from './institution.js';
import {
  checkMarketValues,
  type MarketContext,
  paramValuesOf,
  reportValueProblems,
} from './market.js';
import { checkPolicyName, type RuntimePolicies } from './policies.js';
import type { Declared, SymbolTable, Worlds } from './symbols.js';

export function checkOverrides(
  args: readonly Argument[],
  params: readonly IrParam[],
  owner: string,
  path: string,
  reporter: Reporter,
): Record<string, ParamValue> {
  const overrides: Record<string, ParamValue> = Object.create(null);
  for (const arg of args) {
    if (!arg.name) {
      reporter.report(
        'E_ARITY',
        path,
        arg.range,
        `overrides of \`${owner}\` are named: \`(name: value)\``,
      );
      continue;
    }
    const param = params.find((p) => p.name === arg.name?.name);
    if (!param) {
      reporter.report(
        'E_UNKNOWN_PARAM',
        path,
        arg.name.range,
        `\`${owner}\` has no parameter \`${arg.name.name}\``,
        didYouMean(
          arg.name.name,
          params.map((p) => p.name),
        ) ??
          (params.length
            ? `parameters: ${params.map((p) => p.name).join(', ')}`
            : `\`${owner}\` has no parameters`),
      );
      continue;
    }
    const value = literalValue(arg.value);
    if (value === undefined) {
      reporter.report(
        'E_PARAM_TYPE',
        path,
        arg.value.range,
        `the override of \`${param.name}\` must be a literal value`,
        quoteHint(param, arg.value.kind === 'name' ? arg.value.name : undefined),
      );
      continue;
    }
    const problem = valueFits(param.type, value);
    if (problem) {
      reporter.report('E_PARAM_TYPE', path, arg.value.range, misfitMessage(param, problem));
      continue;
    }
    overrides[param.name] = value;
  }
  return overrides;
}

export function checkPolicy(
  policy: { name: Name; args: readonly Argument[] },
  path: string,
  reporter: Reporter,
): IrPolicy {
  const args: { name?: string; value: ParamValue }[] = [];
  for (const arg of policy.args) {
    const value = literalValue(arg.value);
    if (value === undefined) {
      reporter.report('E_TYPE', path, arg.value.range, 'policy arguments must be literal values');
      continue;
    }
    args.push({ ...(arg.name ? { name: arg.name.name } : {}), value });
  }
  return { name: policy.name.name, args };
}

export function integerLiteral(
  e: Expr,
  what: string,
  path: string,
  reporter: Reporter,
  minimum: number,
): number | undefined {
  const v = literalValue(e);
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    return reporter.report('E_TYPE', path, e.range, `${what} must be a whole number`);
  }
  if (v < minimum)
    return reporter.report('E_VALUE', path, e.range, `${what} must be at least ${minimum}`);
  // Above 2^53 `s++` no longer moves, so a seed range would never end.
  if (!Number.isSafeInteger(v))
    return reporter.report('E_VALUE', path, e.range, `${what} must be at most 2^53 - 1`);
  return v;
}

/** A market named with overrides (`market cournot(firms: 3)`), checked where it is named. */
export interface MarketUse {
  /** The world's declaration: a market or an environment. */
  readonly market: Declared<MarketDecl | EnvironmentDecl>;
  readonly ir?: IrWorld;
  readonly overrides: Record<string, ParamValue>;
  /** The firms the overrides imply, when they are sound. */
  readonly firmNames?: string[];
}

export function checkMarketUse(
  target: Name,
  args: readonly Argument[],
  path: string,
  symbols: SymbolTable,
  markets: Worlds,
  reporter: Reporter,
  role: 'market' | 'environment' = 'market',
  /** A sweep factor's level: a world of the other kind cannot be a level there. */
  inFactor = false,
): MarketUse | undefined {
  const table = role === 'market' ? symbols.markets : symbols.environments;
  const market = table.get(target.name);
  if (!market) {
    const other = role === 'market' ? symbols.environments : symbols.markets;
    if (other.has(target.name))
      return reporter.report(
        'E_UNKNOWN_NAME',
        path,
        target.range,
        `\`${target.name}\` is ${role === 'market' ? 'an environment' : 'a market'}, not ${role === 'market' ? 'a market' : 'an environment'}`,
        inFactor
          ? `the levels of \`${role}\` name ${role}s: a sweep varies worlds of its base experiment's kind`
          : `write \`${role === 'market' ? 'environment' : 'market'} ${target.name}\``,
      );
    return reporter.report(
      'E_UNKNOWN_NAME',
      path,
      target.range,
      `no ${role} \`${target.name}\``,
      didYouMean(target.name, table.keys()) ??
        `${role === 'market' ? 'markets' : 'environments'}: ${[...table.keys()].join(', ')}${ELSEWHERE}`,
    );
  }
  const ir = markets.get(market.decl.name.name);
  const overrides = ir
    ? checkOverrides(args, ir.params, market.decl.name.name, path, reporter)
    : {};
  // The overrides decide how many firms there are and must fit them.
  const overrideRange = (param: string) =>
    args.find((a) => a.name?.name === param)?.value.range ?? target.range;
  const firmNames = ir
    ? checkMarketValues(ir, paramValuesOf(ir.params, overrides), path, overrideRange, reporter)
    : undefined;
  return { market, ...(ir ? { ir } : {}), overrides, ...(firmNames ? { firmNames } : {}) };
}

/** The end of an unknown-declaration hint: what a name written in another file needs. */
const ELSEWHERE =
  '; one declared in another file needs `import "FILE.mase"` at the top of this file';

/** An institution named in an experiment or a sweep, and what to check it with. */
export interface InstitutionUse {
  readonly name: string;
  /** Where an unknown name is reported. */
  readonly nameRange: Range;
  /** Where an error that only the overrides cause is reported. */
  readonly useRange: Range;
  /** The checked overrides, given the institution's parameters. */
  readonly overrides: (params: readonly IrParam[]) => Record<string, ParamValue>;
  /** Where a list-length problem of a parameter is reported. */
  readonly rangeOf: (param: string) => Range;
}

/**
 * Checks an institution against the market it runs in (its price shape, its firm and
 * product names) and with its overrides (round counts, probabilities). Returns the
 * overrides.
 */
export function checkInstitutionUse(
  use: InstitutionUse,
  market: { readonly ir: IrWorld; readonly firmNames?: readonly string[] } | undefined,
  path: string,
  symbols: SymbolTable,
  reporter: Reporter,
): Record<string, ParamValue> {
  const institution = symbols.institutions.get(use.name);
  if (!institution) {
    reporter.report(
      'E_UNKNOWN_NAME',
      path,
      use.nameRange,
      `no institution \`${use.name}\``,
      didYouMean(use.name, symbols.institutions.keys()) ??
        `institutions: ${[...symbols.institutions.keys()].join(', ')}${ELSEWHERE}`,
    );
    return {};
  }
  if (!market) return {};
  const { ir: irMarket, firmNames } = market;
  const context: MarketContext = {
    ...worldContext(irMarket),
    ...(firmNames ? { firmNames: new Set(firmNames) } : {}),
  };
  const first = new Reporter();
  const irInstitution = checkInstitution(institution.decl, institution.path, context, first);
  const overrides = irInstitution ? use.overrides(irInstitution.params) : {};
  if (irInstitution && firmNames) {
    reportValueProblems(
      listLengthProblems(irInstitution.params, paramValuesOf(irInstitution.params, overrides), {
        firms: firmNames.length,
        products: irMarket.kind === 'market' ? irMarket.products.length : 1,
      }),
      path,
      use.rangeOf,
      reporter,
    );
  }
  // The overrides are their own pass over the checked institution: the values it uses
  // before the run (round counts, detection and false-positive probabilities) with these
  // parameter values. A problem the defaults have too was reported at the declaration.
  reporter.diagnostics.push(...first.diagnostics.filter((d) => d.severity === 'error'));
  if (irInstitution) {
    const withDefaults = new Set(
      institutionValueProblems(irInstitution, paramValuesOf(irInstitution.params, {})).map(
        (p) => p.subject,
      ),
    );
    for (const p of institutionValueProblems(
      irInstitution,
      paramValuesOf(irInstitution.params, overrides),
    )) {
      if (withDefaults.has(p.subject)) continue;
      // At the override that caused it, when one did; else at the whole use.
      const cause = p.reads?.find((name) => Object.hasOwn(overrides, name));
      reporter.report(
        p.code,
        path,
        cause === undefined ? use.useRange : use.rangeOf(cause),
        `with these overrides, ${use.name}: ${p.message}`,
        p.at
          ? `at ${p.at.path}:${p.at.range.start.line}:${p.at.range.start.column}`
          : p.subject
            ? `in ${p.subject}`
            : undefined,
      );
    }
  }
  return overrides;
}

export function horizonWord(
  word: Name,
  path: string,
  reporter: Reporter,
): 'known' | 'unknown' | undefined {
  if (word.name === 'known' || word.name === 'unknown') return word.name;
  return reporter.report(
    'E_VALUE',
    path,
    word.range,
    `the horizon is \`known\` or \`unknown\`, not \`${word.name}\``,
    didYouMean(word.name, ['known', 'unknown']) ??
      'known: agents are told the number of rounds; unknown: they are not',
  );
}

export function continuationValue(e: Expr, path: string, reporter: Reporter): number | undefined {
  const p = literalValue(e);
  if (typeof p !== 'number')
    return reporter.report('E_TYPE', path, e.range, 'the continuation is a number');
  if (!(p > 0 && p < 1))
    return reporter.report(
      'E_VALUE',
      path,
      e.range,
      `the continuation is a probability strictly between 0 and 1, not ${p}`,
      'after each round the run goes on with this probability',
    );
  return p;
}

export function checkExperiment(
  decl: ExperimentDecl,
  path: string,
  symbols: SymbolTable,
  markets: Worlds,
  reporter: Reporter,
  policies?: RuntimePolicies,
): IrExperiment | undefined {
  const uses = (...roles: string[]) =>
    decl.items.filter((i) => i.kind === 'use' && roles.includes(i.role));
  const marketUses = uses('market', 'environment');
  const institutionUses = uses('institution');
  for (const extra of [...marketUses.slice(1), ...institutionUses.slice(1)]) {
    reporter.report(
      'E_DUPLICATE',
      path,
      extra.range,
      'an experiment names one world (a market or an environment) and one institution',
    );
  }
  const marketUse = marketUses[0];
  if (marketUse?.kind !== 'use') {
    return reporter.report(
      'E_MISSING',
      path,
      decl.name.range,
      `experiment \`${decl.name.name}\` names no market or environment`,
      'add e.g. `market cournot_2x2` or `environment commons`',
    );
  }
  const used = checkMarketUse(
    marketUse.target,
    marketUse.args,
    path,
    symbols,
    markets,
    reporter,
    marketUse.role === 'environment' ? 'environment' : 'market',
  );
  if (!used) return undefined;
  const { market, overrides: marketOverrides, firmNames } = used;

  const first = institutionUses[0];
  const institutionUse = first?.kind === 'use' ? first : undefined;
  const institutionName = institutionUse ? institutionUse.target.name : 'none';
  const institutionOverrides = checkInstitutionUse(
    {
      name: institutionName,
      nameRange: institutionUse ? institutionUse.target.range : decl.name.range,
      useRange: institutionUse ? institutionUse.range : decl.name.range,
      overrides: (params) =>
        institutionUse
          ? checkOverrides(institutionUse.args, params, institutionName, path, reporter)
          : {},
      rangeOf: (param) =>
        institutionUse?.args.find((a) => a.name?.name === param)?.value.range ??
        (institutionUse ? institutionUse.target.range : decl.name.range),
    },
    used.ir ? { ir: used.ir, ...(firmNames ? { firmNames } : {}) } : undefined,
    path,
    symbols,
    reporter,
  );

  let all: IrPolicy | undefined;
  const perFirm: Record<string, IrPolicy> = Object.create(null);
  for (const item of decl.items) {
    if (item.kind !== 'agents') continue;
    if (item.all) {
      if (all)
        reporter.report('E_DUPLICATE', path, item.range, 'the policy of all firms is given twice');
      all = checkPolicy(item.all, path, reporter);
      checkPolicyName(item.all, used.ir, policies, path, reporter);
    }
    for (const { firm, policy } of item.perFirm) {
      if (firmNames && !firmNames.includes(firm.name)) {
        reporter.report(
          'E_UNKNOWN_NAME',
          path,
          firm.range,
          `${market.decl.kind} \`${market.decl.name.name}\` has no ${used.ir?.kind === 'environment' ? used.ir.axis : 'firm'} \`${firm.name}\``,
          didYouMean(firm.name, firmNames) ??
            `${used.ir?.kind === 'environment' ? used.ir.axis : 'firm'}s: ${firmNames.join(', ')}`,
        );
        continue;
      }
      if (perFirm[firm.name]) {
        reporter.report(
          'E_DUPLICATE',
          path,
          firm.range,
          `firm \`${firm.name}\` is given two policies`,
        );
        continue;
      }
      perFirm[firm.name] = checkPolicy(policy, path, reporter);
      checkPolicyName(policy, used.ir, policies, path, reporter);
    }
  }
  const twice = {
    rounds: 'the number of rounds is given twice',
    seeds: 'the seeds are given twice; write one `seeds A..B`',
    horizon: 'the horizon is given twice',
    continuation: 'the continuation probability is given twice',
    talk: 'the talk topology is given twice',
    checkpoint: 'the checkpoint interval is given twice',
  } as const;
  for (const kind of ['rounds', 'seeds', 'horizon', 'continuation', 'talk', 'checkpoint'] as const)
    onlyOnce(decl.items, kind, twice[kind], path, reporter);

  let rounds: number | undefined;
  let horizon: 'known' | 'unknown' | undefined;
  let continuation: number | undefined;
  let checkpointEvery: number | undefined;
  let talk: IrPolicy | undefined;
  const seeds: number[] = [];
  for (const item of decl.items) {
    if (item.kind === 'horizon') horizon = horizonWord(item.value, path, reporter);
    if (item.kind === 'talk' && !talk) talk = checkPolicy(item.spec, path, reporter);
    if (item.kind === 'continuation') continuation = continuationValue(item.value, path, reporter);
    if (item.kind === 'rounds')
      rounds = integerLiteral(item.value, 'the number of rounds', path, reporter, 1);
    if (item.kind === 'checkpoint')
      checkpointEvery = integerLiteral(
        item.value,
        'the rounds between checkpoints',
        path,
        reporter,
        0,
      );
    if (item.kind === 'seeds') {
      const from = integerLiteral(item.from, 'a seed', path, reporter, 0);
      const to = item.to ? integerLiteral(item.to, 'a seed', path, reporter, 0) : from;
      if (from !== undefined && to !== undefined) {
        if (to < from)
          reporter.report('E_VALUE', path, item.range, `the seed range ${from}..${to} is empty`);
        else if (to - from >= 100_000)
          reporter.report('E_VALUE', path, item.range, 'a seed range holds at most 100,000 seeds');
        else for (let s = from; s <= to; s++) seeds.push(s);
      }
    }
  }

  return {
    kind: 'experiment',
    name: decl.name.name,
    title: decl.title ?? decl.name.name,
    path,
    market: {
      name: market.decl.name.name,
      overrides: marketOverrides,
      ...(market.decl.kind === 'environment' ? { kind: 'environment' as const } : {}),
    },
    institution: { name: institutionName, overrides: institutionOverrides },
    agents: { ...(all ? { all } : {}), perFirm },
    ...(rounds === undefined ? {} : { rounds }),
    seeds,
    ...(horizon ? { horizon } : {}),
    ...(continuation === undefined ? {} : { continuation }),
    ...(checkpointEvery === undefined ? {} : { checkpointEvery }),
    ...(talk ? { talk } : {}),
  };
}

// ---- sweeps ---------------------------------------------------------------------------------
