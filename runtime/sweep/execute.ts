import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { compileSources, type SourceText } from '../../compiler/index.js';
import type { EnvironmentMetrics } from '../environment/metrics.js';
import { writeFileAtomic } from '../files.js';
import type { RunMetrics } from '../metrics.js';
import { runtimePolicies } from '../policy-names.js';
import { type AnyRunMetrics, type RunResume, runToDirectory } from '../run/artifacts.js';
import { checkpointsAt, ResumeError, readCheckpoint } from '../run/checkpoint.js';
import type { RunLlmOptions } from '../run/run.js';
import { asksModels, experimentDigest, type ResolvedExperiment } from '../run/run.js';
import { librarySources } from '../sources.js';
import type { TraceLevel } from '../trace/events.js';
import { GOVERNANCE_LOG_FILE } from '../trace/governance-log.js';
import { SweepProblem } from './errors.js';
import { planSweep, type SweepPlan, type SweepRun } from './plan.js';
import type {
  EnvironmentRecordMetrics,
  EnvironmentRecordSeries,
  RunRecord,
  RunRecordMetrics,
  RunRecordSeries,
} from './record.js';

/**
 * One run of a sweep as a job any executor can hand to any worker: the user's source
 * files, the sweep's name and the run's id. The worker compiles and plans the sweep
 * itself (each once per worker) and runs the run with that id, so a job is small, and a
 * worker whose MASE or sources differ from the coordinator's finds no such run and says so.
 */
export interface SweepJob {
  readonly sources: readonly SourceText[];
  readonly sweep: string;
  readonly runId: string;
  /** How much the run's trace keeps (absent: `SWEEP_TRACE`). */
  readonly trace?: TraceLevel;
  /** Whether the run draws its report.html (absent: no; `mase report DIR` draws it later). */
  readonly runReports?: boolean;
}

/**
 * A sweep's runs keep a summary trace unless told otherwise: every model call, message and
 * decision (what `mase export sft` reads) and the rounds' aggregates, without the per-agent
 * payoff rows.
 */
export const SWEEP_TRACE: TraceLevel = 'summary';

export interface ExecuteOptions {
  /** Where run directories go: `ARTIFACTS/runs/<run_id>/`. */
  readonly artifacts: string;
  /** Recorded in the result: who ran it. */
  readonly worker: string;
  readonly llm?: RunLlmOptions;
  /** Rounds between checkpoints (absent: `checkpointsAt`'s default; 0: none). */
  readonly checkpointEvery?: number;
  /** How much each run's trace keeps (absent: `SWEEP_TRACE`). */
  readonly trace?: TraceLevel;
  /** Whether each run draws its report.html (absent: no). */
  readonly runReports?: boolean;
  /** Kind folders to register first (runtime/environment/kinds.ts): the coordinator's own. */
  readonly kinds?: readonly string[];
}

/** A job that cannot be run at all (no such sweep or run): the sweep records it as failed. */
export class JobError extends SweepProblem {}

const plans = new Map<string, SweepPlan>();

/** A sweep's identity: its sources (paths and texts) and its name. */
export function sweepDigest(sources: readonly SourceText[], sweep: string): string {
  return createHash('sha256')
    .update(JSON.stringify([sources.map((s) => [s.path, s.text]), sweep]))
    .digest('hex');
}

/** The plan of a job's sweep, compiled once per worker per set of sources. */
export function planFor(sources: readonly SourceText[], sweepName: string): SweepPlan {
  const key = sweepDigest(sources, sweepName);
  const cached = plans.get(key);
  if (cached) return cached;
  const library = librarySources().filter((l) => !sources.some((s) => s.path === l.path));
  const compiled = compileSources([...sources], library, {
    includeLibrary: true,
    policies: runtimePolicies(),
  });
  if (!compiled.ok) {
    const first = compiled.diagnostics.find((d) => d.severity === 'error');
    throw new JobError(
      `the sweep's sources do not compile here: ${first ? `${first.path}:${first.range.start.line}:${first.range.start.column} ${first.code} ${first.message}` : 'errors'}${first?.code === 'E_UNKNOWN_NAME' && first.message.startsWith('no environment') ? ' (an environment of a code kind needs its folder: --kind FOLDER)' : ''}`,
    );
  }
  const sweep = compiled.program.sweeps.find((s) => s.name === sweepName);
  if (!sweep) throw new JobError(`no sweep \`${sweepName}\` in the job's sources`);
  const plan = planSweep(compiled.program, sweep, [...sources, ...library]);
  plans.set(key, plan);
  return plan;
}

/** Runs a job: finds its run in the plan and executes it. Never throws for a run that fails. */
export async function runJob(job: SweepJob, options: ExecuteOptions): Promise<RunRecord> {
  let run: SweepRun | undefined;
  try {
    run = planFor(job.sources, job.sweep).runs.find((r) => r.runId === job.runId);
    if (!run) throw new JobError(`sweep ${job.sweep} has no run ${job.runId} here`);
  } catch (error) {
    if (!(error instanceof JobError)) throw error;
    const now = new Date().toISOString();
    return failedRecord(job, options.worker, error.message, now, now, 0);
  }
  return executeRun(run, job.sweep, {
    ...options,
    ...(job.trace ? { trace: job.trace } : {}),
    ...(job.runReports ? { runReports: true } : {}),
  });
}

/** The record of a run that failed before (or while) it ran. */
export function failedRecord(
  job: Pick<SweepJob, 'runId' | 'sweep'>,
  worker: string,
  error: string,
  started: string,
  finished: string,
  duration: number,
  run?: SweepRun,
): RunRecord {
  return {
    run_id: job.runId,
    sweep: job.sweep,
    cell: run?.cell ?? -1,
    replicate: run?.replicate ?? -1,
    seed: run?.seed ?? -1,
    factors: run?.factors ?? {},
    status: 'failed',
    error,
    worker,
    started_at: started,
    finished_at: finished,
    duration_ms: duration,
    metrics: null,
    transitions_by_edge: {},
    series: null,
    artifacts: null,
    institution: run?.experiment.institution.name ?? '',
    llm_firms: [],
    models: [],
  };
}

/** `local:<host>:<pid>`: the worker name of this process when it runs jobs itself. */
export function localWorkerName(): string {
  return `local:${os.hostname()}:${process.pid}`;
}

/**
 * What a directory left by an attempt that died offers: the run to resume from its
 * checkpoint, when the directory holds this run, unfinished, with a checkpoint that checks.
 */
function resumable(dir: string, experiment: ResolvedExperiment): RunResume | undefined {
  try {
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
      run_id: string;
      digest: string;
      status?: string;
    };
    if (manifest.digest !== experimentDigest(experiment)) return undefined;
    if (manifest.status === 'completed' || manifest.status === 'degraded') return undefined;
    const checkpoint = readCheckpoint(dir, manifest);
    return checkpoint ? { manifest, checkpoint } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs one run of a sweep into `ARTIFACTS/runs/<run_id>/` and returns its record. A
 * directory left by an attempt that died is resumed from its checkpoint when it has one
 * (docs/checkpoints.md), and replaced otherwise. A run that fails (an error, a budget that
 * stopped it) is a record with status `failed` and the reason.
 */
export async function executeRun(
  run: SweepRun,
  sweep: string,
  options: ExecuteOptions,
): Promise<RunRecord> {
  const relative = join('runs', run.runId);
  const dir = join(options.artifacts, relative);
  const started = new Date();
  const t0 = performance.now();
  const elapsed = () => Math.round(performance.now() - t0);
  const trace = options.trace ?? SWEEP_TRACE;
  let resume = existsSync(dir) ? resumable(dir, run.experiment) : undefined;
  // A run begun at another trace level is run afresh at this sweep's.
  if (resume && (resume.manifest.trace ?? 'full') !== trace) resume = undefined;
  if (existsSync(dir) && !resume) rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(options.artifacts, 'runs'), { recursive: true });
  const llmFirms = Object.entries(run.experiment.policies)
    .filter(([, p]) => p.name === 'llm')
    .map(([firm]) => firm);
  const attempt = () =>
    runToDirectory(run.experiment, dir, {
      ...(options.llm && llmFirms.length > 0 ? { llm: options.llm } : {}),
      ...(checkpointEvery > 0 ? { checkpointEvery } : {}),
      ...(resume ? { resume } : { trace }),
      report: options.runReports === true,
      // A run left unfinished resumes from a checkpoint (which syncs) or starts again.
      syncEvery: Number.POSITIVE_INFINITY,
    });
  let checkpointEvery = 0;
  try {
    checkpointEvery = checkpointsAt(
      trace,
      options.checkpointEvery ?? run.experiment.checkpointEvery,
      asksModels(run.experiment),
    );
    let artifacts: Awaited<ReturnType<typeof runToDirectory>>;
    try {
      artifacts = await attempt();
    } catch (error) {
      // A run that does not make its trace again up to the checkpoint is run afresh.
      if (!(resume && error instanceof ResumeError)) throw error;
      rmSync(dir, { recursive: true, force: true });
      resume = undefined;
      artifacts = await attempt();
    }
    const { result, status } = artifacts;
    const usage = result.llm?.usage.total;
    const { numbers, series } = recordNumbers(artifacts.metrics, {
      tokens: usage ? usage.promptTokens + usage.completionTokens : 0,
      cost: usage?.cost ?? 0,
    });
    const finished = new Date().toISOString();
    const base = {
      run_id: run.runId,
      sweep,
      cell: run.cell,
      replicate: run.replicate,
      seed: run.seed,
      factors: run.factors,
      worker: options.worker,
      started_at: started.toISOString(),
      finished_at: finished,
      duration_ms: elapsed(),
      transitions_by_edge: transitionCounts(join(dir, GOVERNANCE_LOG_FILE)),
      series,
      artifacts: relative,
      institution: run.experiment.institution.name,
      llm_firms: llmFirms,
      models: result.llm ? result.llm.provenance().map((p) => p.spec) : [],
    };
    if (status === 'completed')
      return { ...base, status: 'completed', error: null, metrics: numbers };
    if (status === 'degraded')
      return { ...base, status: 'degraded', error: degradedReason(dir), metrics: numbers };
    return {
      ...base,
      status: 'failed',
      error: `${result.status}${result.reason ? `: ${result.reason}` : ''}`,
      metrics: numbers,
    };
  } catch (error) {
    return failedRecord(
      { runId: run.runId, sweep },
      options.worker,
      error instanceof Error ? error.message : String(error),
      started.toISOString(),
      new Date().toISOString(),
      elapsed(),
      run,
    );
  }
}

/** Why a run is degraded, as its manifest says. */
function degradedReason(dir: string): string {
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
    reason?: string;
  };
  return manifest.reason ?? 'too many fallback decisions';
}

/**
 * Times each transition fired, by id, from a run's governance log (written at every trace
 * level; events.jsonl holds them too, but not at `--trace none`).
 */
function transitionCounts(logPath: string): Record<string, number> {
  const counts: Record<string, number> = {};
  if (!existsSync(logPath)) return counts;
  for (const line of readFileSync(logPath, 'utf8').split('\n')) {
    if (!line.includes('"kind":"transition"')) continue;
    const entry = JSON.parse(line) as { kind: string; id?: string };
    if (entry.kind === 'transition' && entry.id) counts[entry.id] = (counts[entry.id] ?? 0) + 1;
  }
  return counts;
}

/** A run's numbers and series for its record: a market's, or an environment's. */
function recordNumbers(
  metrics: AnyRunMetrics,
  usage: { tokens: number; cost: number },
):
  | { numbers: RunRecordMetrics; series: RunRecordSeries }
  | { numbers: EnvironmentRecordMetrics; series: EnvironmentRecordSeries } {
  if ('environment' in metrics.run) {
    const m = metrics as EnvironmentMetrics;
    const { round, payoff, fines, credits, values } = m.series;
    return {
      numbers: environmentRecordMetrics(m, usage),
      series: { round, payoff, fines, credits, values },
    };
  }
  const m = metrics as RunMetrics;
  return {
    numbers: recordMetrics(m, usage),
    series: {
      round: m.series.round,
      mean_price: m.series.mean_price,
      industry_profit: m.series.industry_profit,
      hhi: m.series.hhi,
      fines: m.series.fines,
      welfare: m.series.welfare,
    },
  };
}

/** The run-level numbers of an environment run's metrics.json. */
export function environmentRecordMetrics(
  m: EnvironmentMetrics,
  usage: { tokens: number; cost: number },
): EnvironmentRecordMetrics {
  const agents = Object.values(m.agents);
  return {
    declared: m.macro,
    payoff: m.totals.payoff,
    fines: m.totals.fines,
    credits: m.totals.credits,
    sanctions: agents.reduce((s, a) => s + a.sanctions.fine + a.sanctions.credit, 0),
    transitions: m.institution.transitions,
    restorations: m.institution.restorations,
    rounds_played: m.run.rounds_played,
    fallbacks: m.fallbacks.total,
    fallback_share: m.fallbacks.share,
    tokens: usage.tokens,
    cost: usage.cost,
  };
}

/** The run-level numbers of a market run's metrics.json. */
export function recordMetrics(
  m: RunMetrics,
  usage: { tokens: number; cost: number },
): RunRecordMetrics {
  const agents = Object.values(m.agents);
  return {
    collusion_index: m.macro.collusion_index,
    tier: m.macro.tier,
    tier_unsuspended: m.macro.tier_unsuspended,
    verdict: m.macro.verdict,
    severe: m.macro.severe,
    hhi_excess: m.macro.hhi_excess,
    cv_excess: m.macro.cv_excess,
    mean_price: windowMean(m.series.mean_price, m.series.round, m.window),
    mean_industry_profit: m.macro.mean_industry_profit,
    consumer_surplus: m.macro.consumer_surplus,
    welfare: m.macro.welfare,
    fines: m.totals.fines,
    credits: m.totals.credits,
    sanctions: agents.reduce((s, a) => s + a.sanctions.fine + a.sanctions.credit, 0),
    transitions: m.institution.transitions,
    restorations: m.institution.restorations,
    false_positive_rate: m.institution.false_positives.rate,
    detection_rate: m.institution.detection.rate,
    detection_latency: m.institution.detection.mean_latency,
    rounds_played: m.run.rounds_played,
    fallbacks: m.fallbacks.total,
    fallback_share: m.fallbacks.share,
    tokens: usage.tokens,
    cost: usage.cost,
  };
}

function windowMean(
  values: readonly number[],
  rounds: readonly number[],
  window: { from: number; to: number },
): number | null {
  let sum = 0;
  let n = 0;
  rounds.forEach((r, i) => {
    if (r >= window.from && r <= window.to) {
      sum += values[i] ?? 0;
      n++;
    }
  });
  return n > 0 ? sum / n : null;
}

/** Writes a run's record atomically to `DIR/records/<run_id>.json` (the sweep's source of truth). */
export function writeRecord(dir: string, record: RunRecord): void {
  const records = join(dir, 'records');
  mkdirSync(records, { recursive: true });
  writeFileAtomic(join(records, `${record.run_id}.json`), `${JSON.stringify(record)}\n`);
}
