import { literalValue } from '../../compiler/check.js';
import {
  compileSources,
  renderDiagnostics,
  type SourceText,
  summary,
} from '../../compiler/index.js';
import type { IrInstitution, IrIntervention, IrPolicy, IrProgram } from '../../compiler/ir.js';
import { type ExperimentItem, type PolicyRef, parse } from '../../grammar/index.js';
import { PolicyError } from '../agents/policy.js';
import { createAgent } from '../agents/registry.js';
import { EnvironmentError, instantiateEnvironment } from '../environment/instance.js';
import { createEnvironmentAgent } from '../environment/policies.js';
import { UsageProblem } from '../errors.js';
import { CacheError, defaultCachePath, ResponseCache } from '../llm/cache.js';
import { DEFAULT_RETRY } from '../llm/layers.js';
import { loadTemplates, PromptTemplateError } from '../llm/prompts.js';
import { LlmServices } from '../llm/services.js';
import { ModelSpecError, parseModelSpec } from '../llm/spec.js';
import { instantiateMarket, MarketError } from '../market/instance.js';
import { runtimePolicies } from '../policy-names.js';
import { randomStream } from '../random.js';
import { type LoadedProgram, librarySources, loadSource } from '../sources.js';
import { paraphrasingModels } from '../talk/paraphrase.js';
import { talkSettings } from '../talk/topology.js';
import type { TraceLevel } from '../trace/events.js';
import { checkpointsAt } from './checkpoint.js';
import { traceLevelFlag, wholeNumber } from './flags.js';
import { parseParam, ResolveError, resolveExperiment } from './resolve.js';
import { asksModels, type ResolvedExperiment, type RunLlmOptions } from './run.js';

export interface RunOptions {
  experiment?: string;
  market?: string;
  /** An environment by name, or FILE|stdlib:NAME; `--market` names a market. */
  environment?: string;
  institution?: string;
  agents?: string;
  param?: string[];
  rounds?: string;
  seed?: string;
  continuation?: string;
  horizon?: string;
  model?: string;
  concurrency?: string;
  timeout?: string;
  maxTokens?: string;
  prompts?: string;
  /** A cache file, or false for `--no-cache`. */
  cache?: string | false;
  talk?: string;
  maxCost?: string;
  prices?: string;
  maxAnswerBytes?: string;
  maxRetryWait?: string;
  maxFallbackShare?: string;
  /** Rounds between two checkpoints; 0: none (default: 1 for runs that ask models, else none). */
  checkpointEvery?: string;
  /** How much the trace keeps: full (default), summary or none. */
  trace?: string;
}

export { UsageProblem, wholeNumber };

const isFileSpec = (spec: string) =>
  spec.startsWith('stdlib:') || spec.endsWith('.mase') || spec.includes('/');
const nameOf = (spec: string) => (spec.startsWith('stdlib:') ? spec.slice('stdlib:'.length) : spec);

/**
 * A flag's value read as one item of an experiment, with the language's own parser (the
 * parser only: names are checked against the market the run actually uses).
 */
function flagItem<K extends ExperimentItem['kind']>(
  flag: string,
  kind: K,
  itemText: string,
  what: string,
  spec: string,
): Extract<ExperimentItem, { kind: K }> {
  const parsed = parse(flag, `mase 1\nexperiment cli { ${itemText} }\n`);
  const item =
    parsed.value.declarations[0]?.kind === 'experiment'
      ? parsed.value.declarations[0].items[0]
      : undefined;
  const problem = parsed.diagnostics.find((d) => d.severity === 'error');
  if (problem || item?.kind !== kind)
    throw new ResolveError(
      `${flag} ${JSON.stringify(spec)} is not ${what}: ${problem?.message ?? 'unreadable'}`,
    );
  return item as Extract<ExperimentItem, { kind: K }>;
}

/** A policy or topology of a flag, with literal arguments only. */
function literalPolicy(flag: string, p: PolicyRef): IrPolicy {
  return {
    name: p.name.name,
    args: p.args.map((a) => {
      const value = literalValue(a.value);
      if (value === undefined)
        throw new ResolveError(`${flag}: the arguments of ${p.name.name} must be literal values`);
      return { ...(a.name ? { name: a.name.name } : {}), value };
    }),
  };
}

/** `--talk SPEC`, read as the language's `talk` item. */
function talkParser(spec: string): IrPolicy {
  return literalPolicy(
    '--talk',
    flagItem('--talk', 'talk', `talk ${spec}`, 'a topology', spec).spec,
  );
}

/** Policies from `--agents`, read as the language's `agents` item. */
export function policyParser(spec: string): { all?: IrPolicy; perFirm: Record<string, IrPolicy> } {
  // `llm:SPEC` is shorthand for `llm(model: "SPEC")` (a model spec is not a name).
  const expanded = spec.replace(
    /(^|[=,]\s*)llm:([^,\s]+)/g,
    (_all, before: string, model: string) => `${before}llm(model: ${JSON.stringify(model)})`,
  );
  const item = flagItem('--agents', 'agents', `agents ${expanded}`, 'a policy list', spec);
  const perFirm: Record<string, IrPolicy> = {};
  for (const { firm, policy } of item.perFirm) {
    if (perFirm[firm.name]) throw new ResolveError(`--agents gives firm ${firm.name} two policies`);
    perFirm[firm.name] = literalPolicy('--agents', policy);
  }
  return { ...(item.all ? { all: literalPolicy('--agents', item.all) } : {}), perFirm };
}

function integer(flag: string, value: string | undefined): number | undefined {
  return value === undefined ? undefined : wholeNumber(flag, value);
}

function probability(value: string): number {
  const p = Number(value);
  if (!(p > 0 && p < 1))
    throw new UsageProblem(
      `--continuation takes a probability strictly between 0 and 1, not \`${value}\``,
    );
  return p;
}

export function positive(flag: string, value: string | undefined): number | undefined {
  return value === undefined ? undefined : wholeNumber(flag, value, 1);
}

/** `--max-fallback-share`: a share from 0 to 1. */
function shareFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const share = value.trim() === '' ? Number.NaN : Number(value);
  if (!(share >= 0 && share <= 1))
    throw new UsageProblem(`${flag} takes a share from 0 to 1 (0.1 is 10%), not \`${value}\``);
  return share;
}

/** Model options from the flags; API keys stay in the environment. */
export function llmOptions(options: RunOptions): RunLlmOptions {
  const concurrency = positive('--concurrency', options.concurrency);
  const timeoutMs = positive('--timeout', options.timeout);
  const maxTokens = positive('--max-tokens', options.maxTokens);
  const maxAnswerBytes = positive('--max-answer-bytes', options.maxAnswerBytes);
  const maxRetryWait = integer('--max-retry-wait', options.maxRetryWait);
  if (maxRetryWait !== undefined && maxRetryWait < 0)
    throw new UsageProblem(
      `--max-retry-wait takes a whole number of milliseconds ≥ 0, not \`${options.maxRetryWait}\``,
    );
  const maxFallbackShare = shareFlag('--max-fallback-share', options.maxFallbackShare);
  const maxCost = options.maxCost === undefined ? undefined : Number(options.maxCost);
  if (maxCost !== undefined && !(maxCost > 0 && Number.isFinite(maxCost)))
    throw new UsageProblem(`--max-cost takes a positive number, not \`${options.maxCost}\``);
  const prices = options.prices?.split(',').map((x) => Number(x.trim()));
  if (
    prices !== undefined &&
    !(prices.length === 2 && prices.every((x) => x >= 0 && Number.isFinite(x)))
  )
    throw new UsageProblem(
      `--prices takes the input and output price per million tokens, e.g. 0.15,0.6; not \`${options.prices}\``,
    );
  if (maxCost !== undefined && !prices)
    throw new UsageProblem('--max-cost needs --prices (per million input and output tokens)');
  if (options.model !== undefined) {
    try {
      parseModelSpec(options.model);
    } catch (error) {
      if (error instanceof ModelSpecError) throw new UsageProblem(`--model: ${error.message}`);
      throw error;
    }
  }
  return {
    ...(options.model ? { defaultModel: options.model } : {}),
    ...(concurrency !== undefined ? { concurrency } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(maxAnswerBytes !== undefined ? { maxAnswerBytes } : {}),
    ...(maxRetryWait !== undefined
      ? { retry: { ...DEFAULT_RETRY, maxTotalWaitMs: maxRetryWait } }
      : {}),
    ...(maxFallbackShare !== undefined ? { maxFallbackShare } : {}),
    ...(maxTokens !== undefined || maxCost !== undefined
      ? {
          budget: {
            ...(maxTokens !== undefined ? { maxTokens } : {}),
            ...(maxCost !== undefined ? { maxCost } : {}),
          },
        }
      : {}),
    ...(prices
      ? { prices: { inputPerMillion: prices[0] as number, outputPerMillion: prices[1] as number } }
      : {}),
    ...(options.prompts ? { templates: loadTemplates(options.prompts) } : {}),
    ...(options.cache === false
      ? {}
      : { cache: { path: options.cache ?? defaultCachePath(), mode: 'record' as const } }),
  };
}

function horizonFlag(value: string): boolean {
  if (value === 'known') return true;
  if (value === 'unknown') return false;
  throw new UsageProblem(`--horizon takes \`known\` or \`unknown\`, not \`${value}\``);
}

/**
 * The name a `--market`, `--environment` or `--institution` flag gives: a file's is the one
 * declared in that file (exactly one, else exit 2), a `stdlib:NAME` or a bare name its NAME.
 */
function declaredIn(
  spec: string | undefined,
  kind: 'market' | 'environment' | 'institution',
): string | undefined {
  if (spec === undefined || spec === 'none' || spec.startsWith('stdlib:') || !isFileSpec(spec)) {
    return spec === undefined ? undefined : nameOf(spec);
  }
  const source = loadSource(spec);
  // A declaration, not an item naming one (an experiment's or intervention's `institution
  // NAME`): its name, then its title if any, then its block.
  const names = [
    ...source.text.matchAll(
      new RegExp(
        `^\\s*${kind}\\s+([A-Za-z_][A-Za-z0-9_]*)\\s*(?:"(?:[^"\\\\\\n]|\\\\.)*"\\s*)?\\{`,
        'gm',
      ),
    ),
  ].map((m) => m[1]);
  if (names.length !== 1) {
    throw new UsageProblem(
      `${spec} declares ${names.length === 0 ? `no ${kind}` : `several ${kind}s (${names.join(', ')})`}; name one instead`,
    );
  }
  return names[0];
}

/** FILES compiled beside a run's own sources and the library (a fork's); an error is exit 2 naming WHAT. */
async function compileBesideRun(
  files: readonly string[],
  experiment: ResolvedExperiment,
  load: (specs: readonly string[]) => Promise<LoadedProgram>,
  what: string,
): Promise<{ program: IrProgram; available: SourceText[]; roots: string[] }> {
  const { sources, unreadable } = await load(files);
  // The run's own files beside the named ones; the stdlib files it recorded are the library
  // as the run had it (as a replay compiles them), not files of the user's.
  const recorded = new Map(experiment.sources.map((s) => [s.path, s]));
  const library = librarySources().map((s) => recorded.get(s.path) ?? s);
  const libraryPaths = new Set(library.map((s) => s.path));
  const own = experiment.sources.filter(
    (s) => !libraryPaths.has(s.path) && !sources.some((n) => n.path === s.path),
  );
  const given = [...sources, ...own];
  const compiled = compileSources(given, library, {
    includeLibrary: true,
    policies: runtimePolicies(),
    unreadable,
  });
  // A syntax error first: what the checker says of a declaration that did not parse echoes it.
  const errors = compiled.diagnostics.filter((d) => d.severity === 'error');
  const error = errors.find((d) => d.code === 'E_SYNTAX') ?? errors[0];
  if (error)
    throw new UsageProblem(
      `${what}: ${error.code} ${error.message} (at ${error.path}:${error.range.start.line}:${error.range.start.column})`,
    );
  const available = [...given, ...library.filter((l) => !given.some((s) => s.path === l.path))];
  // The named files come first, as the paths their declarations carry.
  return {
    program: compiled.program,
    available,
    roots: sources.slice(0, files.length).map((s) => s.path),
  };
}

/**
 * The institution NAME of PROGRAM for a fork of a run of EXPERIMENT, checked against the
 * run's world as `mase run --institution` checks one (an institution that cannot govern the
 * world, a paraphrase model that does not parse: exit 2 naming WHAT).
 */
function institutionForFork(
  program: IrProgram,
  available: readonly SourceText[],
  name: string,
  experiment: ResolvedExperiment,
  what: string,
): IrInstitution {
  const institution = program.institutions.find((i) => i.name === name);
  if (!institution) {
    const known = program.institutions.map((i) => i.name);
    throw new UsageProblem(`${what}: no institution \`${name}\`; known: ${known.join(', ')}`);
  }
  try {
    checkPairing({ ...experiment, institution }, available);
  } catch (problem) {
    if (problem instanceof ResolveError) throw new UsageProblem(`${what}: ${problem.message}`);
    throw problem;
  }
  for (const model of paraphrasingModels({
    institution,
    ...(experiment.talk ? { talk: experiment.talk } : {}),
  }))
    try {
      parseModelSpec(model);
    } catch (problem) {
      if (problem instanceof ModelSpecError)
        throw new UsageProblem(
          `${what}: institution ${institution.name}: paraphrase "${model}": ${problem.message}`,
        );
      throw problem;
    }
  return institution;
}

/**
 * The institution `--institution FILE|stdlib:NAME|none` names for a fork of a run of
 * EXPERIMENT, compiled beside the run's own sources and checked against its world (a file
 * that does not compile, an institution that cannot govern the world: exit 2).
 */
export async function forkInstitution(
  spec: string,
  experiment: ResolvedExperiment,
  load: (specs: readonly string[]) => Promise<LoadedProgram>,
): Promise<IrInstitution> {
  const file = spec !== 'none' && isFileSpec(spec) ? spec : undefined;
  const name = declaredIn(spec, 'institution') as string;
  const what = `--institution ${spec}`;
  const { program, available } = await compileBesideRun(file ? [file] : [], experiment, load, what);
  return institutionForFork(program, available, name, experiment, what);
}

/** An `intervention` declaration for a fork, with the institution it switches to resolved. */
export interface ForkIntervention {
  readonly intervention: IrIntervention;
  readonly institution?: IrInstitution;
}

/**
 * The intervention `--intervention FILE[:NAME]` names (a file's only one, or the one called
 * NAME), compiled beside the run's own sources; the institution it switches to is checked
 * against the run's world. A file that does not compile, or names no such intervention: exit 2.
 */
export async function forkIntervention(
  spec: string,
  experiment: ResolvedExperiment,
  load: (specs: readonly string[]) => Promise<LoadedProgram>,
): Promise<ForkIntervention> {
  // FILE:NAME, unless what precedes the colon is `stdlib` (a stdlib entry, which declares none).
  const named = /^(.+):([A-Za-z_][A-Za-z0-9_]*)$/.exec(spec);
  const [file, name] =
    named && named[1] !== 'stdlib' ? [named[1] as string, named[2]] : [spec, undefined];
  const what = `--intervention ${spec}`;
  const { program, available, roots } = await compileBesideRun([file], experiment, load, what);
  const declared = program.interventions.filter((i) => i.path === roots[0]);
  const intervention =
    name === undefined
      ? declared.length === 1
        ? declared[0]
        : undefined
      : declared.find((i) => i.name === name);
  if (!intervention)
    throw new UsageProblem(
      name === undefined
        ? `${what}: ${file} declares ${declared.length === 0 ? 'no intervention' : `several interventions (${declared.map((i) => i.name).join(', ')}); name one: ${file}:${declared[0]?.name}`}`
        : `${what}: ${file} declares no intervention \`${name}\`${declared.length > 0 ? `; it declares ${declared.map((i) => i.name).join(', ')}` : ''}`,
    );
  const switched = intervention.changes.find((c) => c.kind === 'institution');
  return {
    intervention,
    ...(switched
      ? {
          institution: institutionForFork(
            program,
            available,
            switched.name,
            experiment,
            `${what}: institution ${switched.name}`,
          ),
        }
      : {}),
  };
}

/**
 * A world or an institution chosen by flag was checked on its own, never against the other:
 * check the pair as an experiment naming both is checked, so that an institution reading
 * what the world lacks (`quantity` in commons) is refused instead of silently never firing.
 */
function checkPairing(experiment: ResolvedExperiment, available: readonly SourceText[]): void {
  const { market: world, institution } = experiment;
  if (institution.name === 'none') return;
  const text = `mase 1\nexperiment pairing {\n  ${world.kind} ${world.name}\n  institution ${institution.name}\n}\n`;
  const checked = compileSources([{ path: '<command line>', text }], available);
  const error = checked.diagnostics.find((d) => d.severity === 'error');
  if (error)
    throw new ResolveError(
      `institution ${institution.name} cannot govern ${world.kind} ${world.name}: ${error.code} ${error.message} (at ${error.path}:${error.range.start.line}:${error.range.start.column})`,
    );
}

/**
 * Builds each agent of POLICIES (by agent name) once, as the run would, so that a policy
 * that does not exist or does not take its arguments (a model spec that does not parse, an
 * unset key) is refused before anything is written; no model is called. Gives the agents'
 * names.
 */
export async function checkPolicies(
  experiment: ResolvedExperiment,
  policies: Readonly<Record<string, IrPolicy>>,
  llm: RunLlmOptions,
): Promise<readonly string[]> {
  const world = experiment.market;
  const env =
    world.kind === 'environment'
      ? instantiateEnvironment(world, experiment.marketOverrides, experiment.seed)
      : undefined;
  const market =
    world.kind === 'market' ? instantiateMarket(world, experiment.marketOverrides) : undefined;
  // Checking the policies opens no cache and calls no model; the clients it makes are
  // released however the check ends.
  const { cache: _cache, ...checkOnly } = llm;
  const services = new LlmServices(checkOnly, randomStream(experiment.seed, 'llm-check'));
  try {
    env?.agents.forEach((agent, i) => {
      const policy = policies[agent];
      if (policy)
        createEnvironmentAgent(policy, {
          agent: i,
          environment: env,
          random: randomStream(experiment.seed, `agent:${agent}`),
          llm: {
            services,
            seed: experiment.seed,
            ...(llm.defaultModel ? { defaultModel: llm.defaultModel } : {}),
          },
        });
    });
    market?.firms.forEach((firm, i) => {
      const policy = policies[firm];
      if (policy)
        createAgent(policy, {
          firm: i,
          market,
          random: randomStream(experiment.seed, `agent:${firm}`),
          llm: {
            services,
            seed: experiment.seed,
            ...(llm.defaultModel ? { defaultModel: llm.defaultModel } : {}),
          },
        });
    });
  } finally {
    await services.close();
  }
  return market?.firms ?? env?.agents ?? [];
}

/**
 * From `mase run` flags to one resolved experiment, or an exit code with the reason
 * already printed (1: errors in the sources, 2: bad flags).
 */
export async function prepareRun(
  file: string | undefined,
  options: RunOptions,
  load: (specs: readonly string[]) => Promise<LoadedProgram>,
): Promise<
  | {
      experiment: ResolvedExperiment;
      llm?: RunLlmOptions;
      checkpointEvery?: number;
      trace: TraceLevel;
    }
  | { exitCode: number }
> {
  try {
    const trace = traceLevelFlag('--trace', options.trace, 'full');
    const specs = [
      ...(file ? [file] : []),
      ...[options.market, options.environment, options.institution].filter(
        (s): s is string => s !== undefined && s !== 'none' && isFileSpec(s),
      ),
    ];
    if (options.market !== undefined && options.environment !== undefined)
      throw new UsageProblem('give --market or --environment, not both');
    if (specs.length === 0 && !options.market && !options.environment)
      throw new UsageProblem('give an experiment file, --market or --environment');
    const { sources, unreadable } = await load([...new Set(specs)]);
    const compiled = compileSources(sources, librarySources(), {
      includeLibrary: true,
      policies: runtimePolicies(),
      unreadable,
    });
    if (!compiled.ok) {
      const texts = new Map([...librarySources(), ...sources].map((s) => [s.path, s.text]));
      const errors = compiled.diagnostics.filter((d) => d.severity === 'error');
      process.stderr.write(`${renderDiagnostics(errors, texts)}\n\n${summary(errors)}\n`);
      return { exitCode: 1 };
    }
    const available = [
      ...sources,
      ...librarySources().filter((l) => !sources.some((s) => s.path === l.path)),
    ];
    const experiment = resolveExperiment(
      compiled.program,
      {
        ...(options.experiment ? { experiment: options.experiment } : {}),
        ...(options.market ? { market: declaredIn(options.market, 'market') as string } : {}),
        ...(options.environment
          ? { environment: declaredIn(options.environment, 'environment') as string }
          : {}),
        ...(options.institution
          ? { institution: declaredIn(options.institution, 'institution') as string }
          : {}),
        ...(options.agents ? { agents: options.agents } : {}),
        params: (options.param ?? []).map(parseParam),
        ...(options.rounds !== undefined
          ? { rounds: positive('--rounds', options.rounds) as number }
          : {}),
        ...(options.seed !== undefined ? { seed: integer('--seed', options.seed) as number } : {}),
        ...(options.continuation !== undefined
          ? { continuation: probability(options.continuation) }
          : {}),
        ...(options.horizon !== undefined ? { horizonKnown: horizonFlag(options.horizon) } : {}),
        ...(options.talk !== undefined ? { talk: talkParser(options.talk) } : {}),
      },
      policyParser,
      available,
    );
    if (options.market || options.environment || options.institution)
      checkPairing(experiment, available);
    const llm = llmOptions(options);
    // Lists must fit the firms the overrides imply, and every policy must exist and take
    // its arguments (a model spec must parse, its key must be set): say so before anything
    // is written. No model is called here.
    const agentNames = await checkPolicies(experiment, experiment.policies, llm);
    // The talk topology and its settings are checked here too.
    if (experiment.talk)
      talkSettings(experiment.talk, agentNames, randomStream(experiment.seed, 'talk-topology'));
    // An institution that paraphrases with a model uses the model services too (its cache, its limits).
    const paraphrasers = paraphrasingModels(experiment);
    for (const model of paraphrasers)
      try {
        parseModelSpec(model);
      } catch (error) {
        if (error instanceof ModelSpecError)
          throw new UsageProblem(
            `institution ${experiment.institution.name}: paraphrase "${model}": ${error.message}`,
          );
        throw error;
      }
    const usesLlm = asksModels(experiment);
    const llmOnly = (
      [
        ['--model', options.model],
        ['--prompts', options.prompts],
        ['--max-answer-bytes', options.maxAnswerBytes],
        ['--max-retry-wait', options.maxRetryWait],
        ['--max-fallback-share', options.maxFallbackShare],
      ] as const
    )
      .filter(([, value]) => value !== undefined)
      .map(([flag]) => flag);
    if (!usesLlm && llmOnly.length > 0)
      throw new UsageProblem(
        `${llmOnly.join(', ')} ${llmOnly.length === 1 ? 'is' : 'are'} for llm firms; no firm is one`,
      );
    // The response cache must open (it is created if new) before the run writes anything.
    if (usesLlm && llm.cache) new ResponseCache(llm.cache.path, 'record').close();
    // The flag, else the experiment's `checkpoint every`, else the default.
    const every = checkpointsAt(
      trace,
      options.checkpointEvery === undefined
        ? experiment.checkpointEvery
        : wholeNumber('--checkpoint-every', options.checkpointEvery),
      usesLlm,
    );
    return {
      experiment,
      ...(usesLlm ? { llm } : {}),
      ...(every > 0 ? { checkpointEvery: every } : {}),
      trace,
    };
  } catch (error) {
    if (
      error instanceof ResolveError ||
      error instanceof UsageProblem ||
      error instanceof PromptTemplateError ||
      error instanceof MarketError ||
      error instanceof EnvironmentError ||
      error instanceof PolicyError ||
      error instanceof CacheError
    ) {
      process.stderr.write(`mase: ${error.message}\n`);
      return { exitCode: 2 };
    }
    throw error;
  }
}
