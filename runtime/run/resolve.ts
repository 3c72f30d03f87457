import { valueFits } from '../../compiler/check.js';
import type { Compilation, SourceText } from '../../compiler/index.js';
import { agentNames, paramValues } from '../../compiler/instantiate.js';
import type {
  IrExperiment,
  IrInstitution,
  IrPolicy,
  IrProgram,
  IrWorld,
  ParamValue,
} from '../../compiler/ir.js';
import { overrideProblems } from '../../compiler/param-values.js';
import { numberTooLarge } from '../../grammar/diagnostics.js';
import { environmentKind } from '../environment/kinds.js';
import { EXIT, MaseUserError } from '../errors.js';
import type { ResolvedExperiment } from './run.js';

/** A problem with what the user asked for: reported as a message, exit 2. */
export class ResolveError extends MaseUserError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

export interface RunRequest {
  readonly experiment?: string;
  readonly market?: string;
  /** An environment to run (`--environment`); `--market` names a market. */
  readonly environment?: string;
  readonly institution?: string;
  /** `POLICY` for every firm, or per firm: `f1=POLICY,f2=POLICY`. */
  readonly agents?: string;
  readonly params: readonly { name: string; value: ParamValue }[];
  readonly rounds?: number;
  readonly seed?: number;
  /** Random stopping: the probability of another round after each one. */
  readonly continuation?: number;
  /** Whether agents are told the number of rounds (default: told). */
  readonly horizonKnown?: boolean;
  /** Talk between firms (`--talk`), overriding the experiment's. */
  readonly talk?: IrPolicy;
}

/**
 * The deepest a `--param` list may nest. A parameter's type has at most two axes (firms,
 * then products); the cap only stops a hostile value from exhausting the call stack.
 */
export const MAX_PARAM_NESTING = 16;

/** How deep the lists of a JSON text nest, counting brackets outside strings. */
/** The talk a world has by default: its code kind's (a text world's network), else none. */
function worldTalk(world: IrWorld): IrPolicy | undefined {
  return world.kind === 'environment' && world.code
    ? environmentKind(world.code.kind)?.talk
    : undefined;
}

function nesting(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '[') deepest = Math.max(deepest, ++depth);
    else if (c === ']') depth--;
  }
  return deepest;
}

/** Parses `--param NAME=VALUE`: JSON for lists, numbers and booleans, else a string. */
export function parseParam(text: string): { name: string; value: ParamValue } {
  const at = text.indexOf('=');
  if (at <= 0) throw new ResolveError(`--param takes NAME=VALUE, not \`${text}\``);
  const name = text.slice(0, at).trim();
  const raw = text.slice(at + 1).trim();
  if (raw === 'inf') return { name, value: Number.POSITIVE_INFINITY };
  if (nesting(raw) > MAX_PARAM_NESTING)
    throw new ResolveError(
      `--param ${name}: lists nest at most ${MAX_PARAM_NESTING} deep (a parameter's lists have at most two levels: firms, then products)`,
    );
  let value: unknown;
  try {
    value = JSON.parse(raw) as unknown;
  } catch {
    // not JSON: a plain string
  }
  if (
    typeof value === 'number' ||
    typeof value === 'boolean' ||
    typeof value === 'string' ||
    Array.isArray(value)
  ) {
    // JSON reads 1e999 as Infinity; a source refuses it (E_NUMBER), and so does --param.
    const finite = (v: unknown): boolean =>
      Array.isArray(v) ? v.every(finite) : typeof v !== 'number' || Number.isFinite(v);
    const tooLarge = finite(value)
      ? undefined
      : ((raw.match(/-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g) ?? []).find(
          (n) => !Number.isFinite(Number(n)),
        ) ?? raw);
    if (tooLarge !== undefined)
      throw new ResolveError(
        `--param ${name}: E_NUMBER ${numberTooLarge.message(tooLarge)} (${numberTooLarge.hint})`,
      );
    return { name, value: value as ParamValue };
  }
  if (raw === '') throw new ResolveError(`--param ${name}= has no value`);
  return { name, value: raw };
}

const find = <T extends { name: string }>(items: readonly T[], name: string, kind: string): T => {
  const found = items.find((i) => i.name === name);
  if (!found)
    throw new ResolveError(
      `no ${kind} \`${name}\`; known: ${items.map((i) => i.name).join(', ') || 'none'}`,
    );
  return found;
};

/** A policy spec from the CLI, parsed with the language's own `agents` syntax. */
export type PolicyParser = (spec: string) => { all?: IrPolicy; perFirm: Record<string, IrPolicy> };

/**
 * Turns a compiled program plus CLI flags into the one experiment to run. The program
 * holds the user's files and the stdlib (all declarations are in `program`).
 */
export function resolveExperiment(
  program: IrProgram,
  request: RunRequest,
  parsePolicies: PolicyParser,
  available: readonly SourceText[],
): ResolvedExperiment {
  let declared: IrExperiment | undefined;
  const worldAsked = request.market ?? request.environment;
  if (request.experiment) declared = find(program.experiments, request.experiment, 'experiment');
  else if (!worldAsked) {
    if (program.experiments.length === 1) declared = program.experiments[0];
    else if (program.experiments.length > 1) {
      throw new ResolveError(
        `the file declares several experiments (${program.experiments.map((e) => e.name).join(', ')}); choose one with --experiment`,
      );
    } else
      throw new ResolveError('nothing to run: give an experiment file, --market or --environment');
  }
  const isEnvironment =
    request.environment !== undefined ||
    (request.market === undefined && declared?.market.kind === 'environment');
  const marketName = worldAsked ?? declared?.market.name;
  if (!marketName) throw new ResolveError('no market: give --market or --environment');
  const market: IrWorld = isEnvironment
    ? find(program.environments, marketName, 'environment')
    : find(program.markets, marketName, 'market');
  const institutionName = request.institution ?? declared?.institution.name ?? 'none';
  const institution: IrInstitution = find(program.institutions, institutionName, 'institution');

  const marketOverrides: Record<string, ParamValue> = {
    ...(worldAsked ? {} : (declared?.market.overrides ?? {})),
  };
  const institutionOverrides: Record<string, ParamValue> = {
    ...(request.institution ? {} : (declared?.institution.overrides ?? {})),
  };
  for (const { name, value } of request.params) {
    const inMarket = market.params.some((p) => p.name === name);
    const inInstitution = institution.params.some((p) => p.name === name);
    if (!inMarket && !inInstitution) {
      const known = [...market.params, ...institution.params].map((p) => p.name);
      throw new ResolveError(
        `--param ${name}: neither ${market.name} nor ${institution.name} has a parameter \`${name}\`; known: ${known.join(', ')}`,
      );
    }
    for (const p of [...market.params, ...institution.params]) {
      const problem = p.name === name ? valueFits(p.type, value) : undefined;
      if (problem) throw new ResolveError(`--param ${name}: ${problem}`);
    }
    if (inMarket) marketOverrides[name] = value;
    if (inInstitution) institutionOverrides[name] = value;
  }
  // The values together, as the checker checks an experiment's: `--param` and a sweep's
  // cells get the same checks and the same words as a source.
  const problem = overrideProblems({
    market,
    marketOverrides,
    institution,
    institutionOverrides,
  })[0];
  if (problem) {
    const given = request.params.map((p) => p.name);
    const at = problem.at
      ? ` (at ${problem.at.path}:${problem.at.range.start.line}:${problem.at.range.start.column})`
      : '';
    throw new ResolveError(
      `${given.length > 0 ? `--param ${given.join(', ')}: ` : ''}${problem.code} ${problem.message}${at}`,
    );
  }
  const firms = agentNames(market, paramValues(market.params, marketOverrides));
  const agent = market.kind === 'environment' ? market.axis : 'firm';
  if (firms.length === 0)
    throw new ResolveError(`${market.kind} ${market.name} has no ${agent}s with these parameters`);

  const fromCli = request.agents ? parsePolicies(request.agents) : undefined;
  const all = fromCli?.all ?? (fromCli ? undefined : declared?.agents.all);
  const perFirm = {
    ...(fromCli ? {} : (declared?.agents.perFirm ?? {})),
    ...(fromCli?.perFirm ?? {}),
  };
  const policies: Record<string, IrPolicy> = {};
  for (const name of Object.keys(perFirm)) {
    if (!firms.includes(name))
      throw new ResolveError(
        `--agents: ${market.kind} ${market.name} has no ${agent} \`${name}\`; ${agent}s: ${firms.join(', ')}`,
      );
  }
  for (const firm of firms) {
    const policy = perFirm[firm] ?? all;
    if (!policy)
      throw new ResolveError(
        `${agent} ${firm} has no policy: give --agents POLICY or --agents ${firm}=POLICY`,
      );
    policies[firm] = policy;
  }
  const rounds = request.rounds ?? declared?.rounds ?? 50;
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new ResolveError('--rounds takes a whole number of at least 1');
  const seed = request.seed ?? declared?.seeds[0] ?? 1;
  if (
    request.continuation !== undefined &&
    !(request.continuation > 0 && request.continuation < 1)
  ) {
    throw new ResolveError('--continuation takes a probability strictly between 0 and 1');
  }
  // The command line overrides what the experiment declares.
  const continuation = request.continuation ?? declared?.continuation;
  // A text world's network when neither the command line nor the experiment gives one.
  const talk = request.talk ?? declared?.talk ?? worldTalk(market);
  const horizonKnown =
    request.horizonKnown ?? (declared?.horizon ? declared.horizon === 'known' : true);
  // Every file the run uses: where the experiment, the market and the institution are
  // declared, and every file those import (a replay compiles them again, imports and all).
  const used = new Set(
    [declared?.path, market.path, institution.path].filter((p): p is string => p !== undefined),
  );
  const byPath = new Map(available.map((s) => [s.path, s]));
  for (const path of used)
    for (const imported of byPath.get(path)?.imports ?? []) used.add(imported);
  const sources = available.filter((s) => used.has(s.path));
  return {
    name: declared?.name ?? `${market.name}-${institution.name}`,
    market,
    marketOverrides,
    institution,
    institutionOverrides,
    policies,
    rounds,
    seed,
    ...(continuation === undefined ? {} : { continuation }),
    horizonKnown,
    ...(talk && talk.name !== 'none' ? { talk } : {}),
    ...(declared?.checkpointEvery !== undefined
      ? { checkpointEvery: declared.checkpointEvery }
      : {}),
    sources,
  };
}

export type { Compilation };
