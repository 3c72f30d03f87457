import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileSources } from '../../compiler/index.js';
import type { IrPolicy, ParamValue } from '../../compiler/ir.js';
import { isBuiltinKind, kindProvenance } from '../environment/kinds.js';
import { EXIT, MaseUserError } from '../errors.js';
import { CacheError, ResponseCache } from '../llm/cache.js';
import type { Budget, Prices } from '../llm/layers.js';
import type { PromptTemplates } from '../llm/prompts.js';
import { librarySources } from '../sources.js';
import type { TraceLevel } from '../trace/events.js';
import { reviveInfinity } from '../trace/writer.js';
import { type RunArtifacts, runToDirectory } from './artifacts.js';
import {
  asksModels,
  experimentDigest,
  type ForkSpec,
  type ResolvedExperiment,
  type RunHooks,
  type RunLlmOptions,
} from './run.js';
import type { Interruption } from './signals.js';

/**
 * `mase replay DIR --out NEW`: the run in DIR again, from its manifest (the full source
 * text, parameters, policies, seed, horizon) and the response cache it wrote, with a
 * model client that refuses any network use. Every decision, market, institution and
 * message event comes out as it was; transport-only fields (latency, retries, cache hits,
 * wall-clock times) and `llm_retry` events are the only differences.
 */

/** A run that cannot be replayed: exit 2. */
export class ReplayError extends MaseUserError {
  override name = 'ReplayError';
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

export interface ReplayManifest {
  digest?: string;
  experiment?: string;
  market?: {
    name?: string;
    kind?: 'environment';
    overrides?: Record<string, ParamValue>;
    code_kind?: { folder?: string | null; sha256?: string | null };
  };
  institution?: { name?: string; overrides?: Record<string, ParamValue> };
  policies?: Record<string, IrPolicy>;
  rounds?: number;
  seed?: number;
  horizon?: { known?: boolean; continuation?: number | null };
  talk?: IrPolicy | null;
  fork?: ForkSpec;
  /** How much the run's trace keeps (absent: full). */
  trace?: TraceLevel;
  sources?: { path: string; text: string }[];
  status?: string;
  rounds_completed?: number;
  reason?: string;
  llm?: {
    default_model?: string | null;
    templates?: PromptTemplates | null;
    cache?: string | null;
    budget?: Budget | null;
    prices?: Prices | null;
    max_fallback_share?: number | null;
  };
}

/** The experiment a run directory records, checked against the digest it was run under. */
export function experimentFromRun(
  dir: string,
  verb: 'replayed' | 'resumed' | 'forked' = 'replayed',
): {
  experiment: ResolvedExperiment;
  manifest: ReplayManifest;
} {
  const path = join(dir, 'manifest.json');
  if (!existsSync(path)) throw new ReplayError(`${dir} holds no run (no manifest.json)`);
  let manifest: ReplayManifest;
  try {
    // Infinities are written as "inf" (traceJson), as parameter values may be.
    manifest = JSON.parse(readFileSync(path, 'utf8'), reviveInfinity) as ReplayManifest;
  } catch (error) {
    throw new ReplayError(
      `cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const need = <T>(value: T | undefined | null, what: string): T => {
    if (value === undefined || value === null)
      throw new ReplayError(`${path} does not record ${what}; it cannot be ${verb}`);
    return value;
  };
  const sources = need(manifest.sources, 'the source files');
  // The library as the run had it: recorded stdlib files as they were, the rest as now.
  const recorded = new Map(sources.map((s) => [s.path, s]));
  const library = librarySources().map((s) => recorded.get(s.path) ?? s);
  const libraryPaths = new Set(library.map((s) => s.path));
  const compiled = compileSources(
    sources.filter((s) => !libraryPaths.has(s.path)),
    library,
    { includeLibrary: true },
  );
  if (!compiled.ok)
    throw new ReplayError(`the sources ${path} records no longer compile with this version`);
  const marketName = need(manifest.market?.name, 'the market');
  const institutionName = need(manifest.institution?.name, 'the institution');
  const market =
    manifest.market?.kind === 'environment'
      ? compiled.program.environments.find((m) => m.name === marketName)
      : compiled.program.markets.find((m) => m.name === marketName);
  const institution = compiled.program.institutions.find((i) => i.name === institutionName);
  if (!market || !institution)
    throw new ReplayError(
      `the recorded sources no longer declare ${marketName} and ${institutionName}`,
    );
  const continuation = manifest.horizon?.continuation;
  const experiment: ResolvedExperiment = {
    name: need(manifest.experiment, 'the experiment name'),
    market,
    marketOverrides: need(manifest.market?.overrides, 'the market overrides'),
    institution,
    institutionOverrides: need(manifest.institution?.overrides, 'the institution overrides'),
    policies: need(manifest.policies, 'the policies'),
    rounds: need(manifest.rounds, 'the rounds'),
    seed: need(manifest.seed, 'the seed'),
    ...(typeof continuation === 'number' ? { continuation } : {}),
    horizonKnown: manifest.horizon?.known ?? true,
    ...(manifest.talk ? { talk: manifest.talk } : {}),
    ...(manifest.fork ? { fork: manifest.fork } : {}),
    sources,
  };
  // A code kind's run replays only with the same code registered.
  const ran = manifest.market?.code_kind;
  // MASE's own kinds are part of its version, as the stdlib is.
  if (market.kind === 'environment' && market.code && !isBuiltinKind(market.code.kind)) {
    const here = kindProvenance(market.code.kind);
    const where = ran?.folder ? ` (it ran from ${ran.folder})` : '';
    if (here.sha256 === null)
      throw new ReplayError(
        `${path} was computed by the code kind ${market.code.kind}, which is not registered here: add --kind FOLDER${where}`,
      );
    if (ran?.sha256 && here.sha256 !== ran.sha256)
      throw new ReplayError(
        `the code kind ${market.code.kind} registered here (index.js sha256 ${here.sha256.slice(0, 12)}…) is not the code that ran (${ran.sha256.slice(0, 12)}…)${where}`,
      );
  }
  if (experimentDigest(experiment) !== manifest.digest)
    throw new ReplayError(
      `the experiment rebuilt from ${path} is not the one that ran (its digest differs)`,
    );
  return { experiment, manifest };
}

/** The last round whose market (or environment) line is in `dir/events.jsonl` (0 for none or no file). */
export function roundsInTrace(dir: string): number {
  const path = join(dir, 'events.jsonl');
  if (!existsSync(path)) return 0;
  let last = 0;
  for (const match of readFileSync(path, 'utf8').matchAll(
    /^\{"type":"(?:market|environment)","round":(\d+)/gm,
  ))
    last = Math.max(last, Number(match[1]));
  return last;
}

/**
 * Where the replay stops: where the run stopped, when it did not complete — interrupted
 * (a budget, a signal) or failed at the rounds it recorded, for the reason it recorded;
 * a run that never ended (killed: its manifest still says `running`) at the last round its
 * trace holds. The budget itself is not replayed: answers from the cache cost nothing, so
 * a cost budget would never stop a replay.
 */
function stopWhereTheRunStopped(
  manifest: ReplayManifest,
  dir: string,
): Pick<RunHooks, 'shouldStop' | 'onRoundEnd'> {
  if (manifest.status === 'completed' || manifest.status === 'degraded') return {};
  if (manifest.status === 'running' && manifest.trace === 'none')
    throw new ReplayError(
      `the run in ${dir} never ended and kept no trace (--trace none): nothing says how many rounds it played, so it cannot be replayed to where it stopped`,
    );
  const rounds =
    manifest.status === 'running' ? roundsInTrace(dir) : (manifest.rounds_completed ?? 0);
  const reason =
    manifest.status === 'running'
      ? `the recorded run never ended; its trace stops after round ${rounds}`
      : (manifest.reason ?? `the recorded run was ${manifest.status} here`);
  let played = 0;
  return {
    onRoundEnd: (round) => {
      played = round;
    },
    shouldStop: () => (played >= rounds ? reason : undefined),
  };
}

/**
 * The model options the run in `dir` recorded, with its response cache (`cache` overrides
 * it), checked to open before anything is written; undefined for a run that asks no model.
 * A replay reads the cache only and has no budget (answers from the cache cost nothing); a
 * resumed run or a fork asks for what the cache lacks, under the run's budget.
 */
export function recordedLlm(
  experiment: ResolvedExperiment,
  manifest: ReplayManifest,
  dir: string,
  verb: 'replayed' | 'resumed' | 'forked',
  cache = manifest.llm?.cache ?? undefined,
): RunLlmOptions | undefined {
  if (!asksModels(experiment)) return undefined;
  if (!cache)
    throw new ReplayError(
      `the run in ${dir} kept no response cache (it ran with --no-cache); it cannot be ${verb}`,
    );
  const mode = verb === 'replayed' ? 'replay' : 'record';
  try {
    new ResponseCache(cache, mode).close();
  } catch (error) {
    if (error instanceof CacheError) throw new ReplayError(error.message);
    throw error;
  }
  const recorded = manifest.llm;
  return {
    cache: { path: cache, mode },
    ...(recorded?.default_model ? { defaultModel: recorded.default_model } : {}),
    ...(recorded?.templates ? { templates: recorded.templates } : {}),
    ...(mode === 'record' && recorded?.budget ? { budget: recorded.budget } : {}),
    ...(recorded?.prices ? { prices: recorded.prices } : {}),
    ...(typeof recorded?.max_fallback_share === 'number'
      ? { maxFallbackShare: recorded.max_fallback_share }
      : {}),
  };
}

/** Replays the run in `dir` into `out`; `cache` overrides the cache the run recorded. */
export async function replayRun(
  dir: string,
  out: string,
  options: { cache?: string; interruption?: Interruption } = {},
): Promise<RunArtifacts> {
  const { experiment, manifest } = experimentFromRun(dir);
  const llm = recordedLlm(experiment, manifest, dir, 'replayed', options.cache);
  return runToDirectory(experiment, out, {
    ...stopWhereTheRunStopped(manifest, dir),
    trace: manifest.trace ?? 'full',
    ...(options.interruption ? { interruption: options.interruption } : {}),
    ...(llm ? { llm } : {}),
  });
}
