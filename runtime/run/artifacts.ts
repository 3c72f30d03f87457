import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { paramValues } from '../../compiler/instantiate.js';
import { writeFileAtomic } from '../files.js';
import type { UsageCounts } from '../llm/layers.js';
import type { ModelProvenance } from '../llm/services.js';
import { linearDemand } from '../market/benchmarks.js';
import {
  computeMetrics,
  institutionMetricsOptions,
  type MetricsOptions,
  type RunMetrics,
} from '../metrics.js';
import { packageRoot } from '../sources.js';
import type { TraceEvent } from '../trace/events.js';
import { GovernanceLog, governanceEntryOf } from '../trace/governance-log.js';
import { resolveLogKey } from '../trace/log-key.js';
import { TraceWriter, traceJson } from '../trace/writer.js';
import {
  experimentDigest,
  type ResolvedExperiment,
  type RunHooks,
  type RunResult,
  runExperiment,
} from './run.js';

export class ArtifactError extends Error {}

/** What the metrics need beyond the trace: the demand line for consumer surplus, the states. */
function metricsOptions(experiment: ResolvedExperiment, result: RunResult): MetricsOptions {
  const demand = result.market.competition === 'quantity' ? linearDemand(result.market) : undefined;
  return {
    ...(demand
      ? { demand: { intercept: Array.from(demand.intercept), slope: Array.from(demand.slope) } }
      : {}),
    ...institutionMetricsOptions(experiment.institution),
  };
}

const kept = new Set<TraceEvent['type']>([
  'header',
  'benchmarks',
  'market',
  'payoff',
  'transition',
  'sanction',
  'sanction_error',
  'notice',
  'clamp',
  'invalid_action',
  'message',
  'run_end',
]);

function keptInMemory(event: TraceEvent): boolean {
  return kept.has(event.type) || (event.type === 'decision' && event.rationale !== undefined);
}

export interface RunArtifacts {
  readonly result: RunResult;
  readonly metrics: RunMetrics;
  readonly dir: string;
}

function packageVersion(): string {
  return (
    JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }
  ).version;
}

/** Writes a JSON file atomically (write aside, then rename), so readers never see half of it. */
function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, `${traceJson(value)}\n`);
}

/**
 * Runs an experiment into `dir`: `manifest.json` (status `running` until the end),
 * `events.jsonl` and `governance-log.jsonl` as the run goes, `metrics.json` at the end.
 * A directory that already holds a run is refused rather than overwritten.
 */
export async function runToDirectory(
  experiment: ResolvedExperiment,
  dir: string,
  hooks: Pick<RunHooks, 'shouldStop' | 'onRoundEnd' | 'llm'> = {},
): Promise<RunArtifacts> {
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new ArtifactError(`${dir} is not empty; choose a new --out directory`);
  }
  mkdirSync(dir, { recursive: true });
  const digest = experimentDigest(experiment);
  const runId = digest.slice(0, 32);
  const key = resolveLogKey(runId, { runDir: dir });
  const manifest = {
    run_id: runId,
    digest,
    experiment: experiment.name,
    market: {
      name: experiment.market.name,
      params: Object.fromEntries(paramValues(experiment.market.params, experiment.marketOverrides)),
      /** The values set by the experiment or the flags (the rest are defaults). */
      overrides: experiment.marketOverrides,
    },
    institution: {
      name: experiment.institution.name,
      params: Object.fromEntries(
        paramValues(experiment.institution.params, experiment.institutionOverrides),
      ),
      overrides: experiment.institutionOverrides,
    },
    policies: experiment.policies,
    rounds: experiment.rounds,
    horizon: { known: experiment.horizonKnown, continuation: experiment.continuation ?? null },
    talk: experiment.talk ?? null,
    seed: experiment.seed,
    sources: experiment.sources.map((s) => ({
      path: s.path,
      sha256: s.sha256 ?? createHash('sha256').update(s.text).digest('hex'),
      text: s.text,
    })),
    mase_version: packageVersion(),
    node_version: process.version,
    log_key: key.source === 'env' ? 'MASE_LOG_KEY' : 'stored in the MASE data directory',
    started_at: new Date().toISOString(),
    ended_at: null as string | null,
    status: 'running' as 'running' | 'completed' | 'failed' | 'interrupted',
    rounds_completed: 0,
    reason: undefined as string | undefined,
    /** What LLM firms need to be replayed: their defaults, templates, cache and budget. */
    llm: hooks.llm
      ? {
          default_model: hooks.llm.defaultModel ?? null,
          templates: hooks.llm.templates ?? null,
          cache: hooks.llm.cache?.path ?? null,
          budget: hooks.llm.budget ?? null,
          prices: hooks.llm.prices ?? null,
        }
      : undefined,
    /** Where each model's answers came from (LLM firms only). */
    models: undefined as ModelProvenance[] | undefined,
    llm_usage: undefined as
      | { total: UsageCounts; by_agent: Record<string, UsageCounts> }
      | undefined,
  };
  const manifestPath = join(dir, 'manifest.json');
  writeJsonAtomic(manifestPath, manifest);

  // Only what the metrics and the report read is kept in memory: decisions (but those with
  // a rationale) and monitor values are a large share of a long trace and are only written.
  const events: TraceEvent[] = [];
  const trace = new TraceWriter(join(dir, 'events.jsonl'));
  const log = new GovernanceLog(dir, { key: key.key, manifestDigest: digest, runId });
  let result: RunResult | undefined;
  try {
    result = await runExperiment(experiment, {
      onEvent: (event) => {
        if (keptInMemory(event)) events.push(event);
        trace.write(event);
        const entry = governanceEntryOf(event);
        if (entry) log.append(entry);
      },
      onBlocked: (blocked) => log.append({ kind: 'blocked', ...blocked }),
      onRoundEnd: (round) => {
        trace.flush();
        hooks.onRoundEnd?.(round);
      },
      ...(hooks.shouldStop ? { shouldStop: hooks.shouldStop } : {}),
      ...(hooks.llm ? { llm: hooks.llm } : {}),
    });
  } catch (error) {
    manifest.status = 'failed';
    manifest.reason = error instanceof Error ? error.message : String(error);
    manifest.ended_at = new Date().toISOString();
    writeJsonAtomic(manifestPath, manifest);
    throw error;
  } finally {
    trace.close();
    log.close();
  }
  const metrics = computeMetrics(events, metricsOptions(experiment, result));
  writeJsonAtomic(join(dir, 'metrics.json'), metrics);
  manifest.status = result.status;
  manifest.rounds_completed = result.roundsCompleted;
  if (result.reason) manifest.reason = result.reason;
  if (result.llm) {
    manifest.models = result.llm.provenance();
    manifest.llm_usage = {
      total: { ...result.llm.usage.total },
      by_agent: result.llm.usage.byAgent(),
    };
  }
  manifest.ended_at = new Date().toISOString();
  writeJsonAtomic(manifestPath, manifest);
  // The report is a view of the files above; failing to draw it must not lose the run.
  try {
    const { writeRunReport } = await import('../report/run-report.js');
    await writeRunReport(dir, {
      institution: experiment.institution,
      overrides: experiment.institutionOverrides,
      run: { manifest, metrics, events },
    });
  } catch (error) {
    process.stderr.write(
      `mase: ${dir}/report.html not written: ${error instanceof Error ? error.message : String(error)}\n`,
    );
  }
  return { result, metrics, dir };
}
