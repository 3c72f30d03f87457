import { createHash, type Hash as PrefixHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { paramValues } from '../../compiler/instantiate.js';
import type { ParamValue } from '../../compiler/ir.js';
import { kindProvenance } from '../environment/kinds.js';
import {
  computeEnvironmentMetrics,
  type EnvironmentMetrics,
  EnvironmentScore,
} from '../environment/metrics.js';
import { EXIT, MaseUserError } from '../errors.js';
import { claimDirectory, lockDirectory, writeFileAtomic } from '../files.js';
import type { UsageCounts } from '../llm/layers.js';
import type { ModelProvenance } from '../llm/services.js';
import { linearDemand } from '../market/benchmarks.js';
import { instantiateMarket } from '../market/instance.js';
import {
  computeMetrics,
  institutionMetricsOptions,
  type MetricsOptions,
  type RunMetrics,
} from '../metrics.js';
import { packageRoot } from '../sources.js';
import { describeSystemError, isSystemError } from '../system-errors.js';
import { MESSAGES_KEPT } from '../talk/lineage.js';
import { isMessageNote, type TraceEvent, type TraceLevel } from '../trace/events.js';
import {
  asJsonValue,
  GOVERNANCE_LOG_FILE,
  GOVERNANCE_LOG_FORMAT,
  GovernanceLog,
  type GovernanceLogPosition,
  governanceEntryOf,
  type ManifestSeal,
  type RunEndStatus,
  runLogKey,
  sealManifest,
  verifyGovernanceLog,
} from '../trace/governance-log.js';
import { resolveLogKey } from '../trace/log-key.js';
import { SYNC_EVERY_ROUNDS, TraceWriter, traceJson } from '../trace/writer.js';
import {
  CHECKPOINT_FILE,
  CHECKPOINT_FORMAT,
  type Checkpoint,
  PrefixReplay,
  ResumeError,
  readPrefix,
  savedState,
  stateOf,
} from './checkpoint.js';
import { runOutcome } from './degraded.js';
import {
  experimentDigest,
  governingAfterFork,
  institutionsOf,
  type ResolvedExperiment,
  type RunHooks,
  type RunResult,
  type RunState,
  runExperiment,
  worldAfterFork,
} from './run.js';
import type { Interruption } from './signals.js';
import { forkLineage } from './summary.js';

/** A run directory that cannot take a run (its files are not a run's, or it is in use): exit 2. */
export class ArtifactError extends MaseUserError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/** The run's metrics: a market's (runtime/metrics.ts) or an environment's (runtime/environment/metrics.ts). */
export type AnyRunMetrics = RunMetrics | EnvironmentMetrics;

function score(
  events: readonly TraceEvent[],
  experiment: ResolvedExperiment,
  environmentScore: EnvironmentScore | undefined,
  upTo?: number,
): AnyRunMetrics {
  const world = experiment.market;
  if (world.kind !== 'environment') return computeMetrics(events, metricsOptions(experiment));
  // The fold saw every event as it was written; it scores the rounds the run's end says were played.
  // An environment's declared metrics read the parameter values in force at the run's end.
  const after = worldAfterFork(experiment);
  const options = {
    ir: world,
    overrides: experiment.marketOverrides,
    ...(after.retuned ? { overridesAfterFork: after.overrides } : {}),
  };
  if (environmentScore) return environmentScore.metrics(options, upTo);
  return computeEnvironmentMetrics(events, options);
}

/** A market run's metrics; an environment's are a bug where a market's are expected. */
export function marketMetrics(metrics: AnyRunMetrics): RunMetrics {
  if ('environment' in metrics.run)
    throw new Error(`expected a market's metrics, not environment ${metrics.run.environment}'s`);
  return metrics as RunMetrics;
}

/**
 * The institution's states the metrics read: those of the one the run starts with, and of
 * one a fork switches to (sanction and suspension states of either count; the initial state
 * is the first's).
 */
function statesOptions(experiment: ResolvedExperiment): MetricsOptions {
  const [first, ...switched] = institutionsOf(experiment);
  const own = institutionMetricsOptions(first);
  if (switched.length === 0) return own;
  const all = [first, ...switched].map(institutionMetricsOptions);
  const union = (key: 'sanctionStates' | 'suspendedStates') => [
    ...new Set(all.flatMap((o) => o[key] ?? [])),
  ];
  if (all.every((o) => o.sanctionStates === undefined)) return own;
  return {
    ...own,
    sanctionStates: union('sanctionStates'),
    suspendedStates: union('suspendedStates'),
  };
}

/** What the metrics need beyond the trace: the demand line for consumer surplus, the states. */
function metricsOptions(experiment: ResolvedExperiment): MetricsOptions {
  const world = experiment.market;
  if (world.kind !== 'market') return statesOptions(experiment);
  const demandOf = (overrides: Readonly<Record<string, ParamValue>>) => {
    const market = instantiateMarket(world, overrides);
    const demand = market.competition === 'quantity' ? linearDemand(market) : undefined;
    return demand
      ? { intercept: Array.from(demand.intercept), slope: Array.from(demand.slope) }
      : undefined;
  };
  const demand = demandOf(experiment.marketOverrides);
  // A fork that changes the market's parameters changes its demand from its round on.
  const after = worldAfterFork(experiment);
  const changed = after.retuned && experiment.fork ? demandOf(after.overrides) : undefined;
  return {
    ...(demand ? { demand } : {}),
    ...(changed && experiment.fork
      ? { demandFrom: [{ from: experiment.fork.after + 1, ...changed }] }
      : {}),
    ...statesOptions(experiment),
  };
}

const kept = new Set<TraceEvent['type']>([
  'header',
  'benchmarks',
  'market',
  'environment',
  'environment_benchmarks',
  'payoff',
  'transition',
  'sanction',
  'sanction_error',
  'notice',
  'counter',
  'clamp',
  'invalid_action',
  'message',
  'message_blocked',
  'message_paraphrased',
  'message_replaced',
  'message_dropped',
  'run_end',
]);

function keptInMemory(event: TraceEvent): boolean {
  return kept.has(event.type) || (event.type === 'decision' && event.rationale !== undefined);
}

export interface RunArtifacts {
  readonly result: RunResult;
  readonly metrics: AnyRunMetrics;
  readonly dir: string;
  /** The status the manifest records: the result's, or `degraded` (degraded.ts). */
  readonly status: RunStatus;
}

function packageVersion(): string {
  return (
    JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }
  ).version;
}

/** Writes a JSON file atomically (write aside, then rename), so readers never see half of it. */
function writeJsonAtomic(path: string, value: unknown): string {
  const text = `${traceJson(value)}\n`;
  writeFileAtomic(path, text);
  return text;
}

/**
 * Space set aside when a run starts and given back when it ends: when the disk fills up
 * during a run, freeing it lets the run still record how it ended (the manifest, the
 * log's seal, metrics when they fit).
 */
const RESERVE_FILE = '.mase-reserve';
const RESERVE_BYTES = 1 << 20;

function reserveSpace(dir: string): () => void {
  const path = join(dir, RESERVE_FILE);
  try {
    writeFileSync(path, Buffer.alloc(RESERVE_BYTES));
  } catch {
    // A disk too full for the reserve is found out by the run's own writes.
    rmSync(path, { force: true });
  }
  return () => rmSync(path, { force: true });
}

/**
 * Checks that a resumed run's governance log holds, up to its checkpoint, the entries the
 * checkpoint names, chained under the run's key; the rest (a round after the checkpoint, a
 * seal) is cut off when the run writes again.
 */
function checkLogPrefix(
  dir: string,
  key: Buffer,
  expected: { runId: string; manifestDigest: string },
  checkpoint: Checkpoint,
): void {
  const path = join(dir, GOVERNANCE_LOG_FILE);
  const { bytes, entries, mac } = checkpoint.log;
  let text: Buffer;
  try {
    text = readFileSync(path);
  } catch (error) {
    throw new ResumeError(`cannot read ${path}: ${(error as Error).message}`);
  }
  if (text.length < bytes)
    throw new ResumeError(
      `${path} holds ${text.length} bytes, fewer than the ${bytes} it held at the checkpoint (round ${checkpoint.round}): it was cut`,
    );
  const prefix = text.subarray(0, bytes).toString('utf8');
  const verified = verifyGovernanceLog(prefix, key, expected);
  if (!verified.ok)
    throw new ResumeError(
      `${path} does not verify up to the checkpoint (round ${checkpoint.round}): line ${verified.line}: ${verified.reason}`,
    );
  const last = prefix.slice(0, -1).split('\n').pop() ?? '';
  if (verified.entries !== entries || (entries > 0 && !last.includes(`"mac":"${mac}"`)))
    throw new ResumeError(
      `${path} is not the log the checkpoint (round ${checkpoint.round}) names: ${verified.entries} entries where it names ${entries}`,
    );
}

/** A run's status when it ends, as the manifest and the log's seal record it. */
export type RunStatus = RunEndStatus;

/** The run could not be written: the machine failed (a full disk, EIO); `error` says how. */
export class RunWriteError extends Error {
  override name = 'RunWriteError';
  constructor(
    message: string,
    readonly error: NodeJS.ErrnoException,
  ) {
    super(message);
  }
}

export interface RunToDirectoryHooks extends Pick<RunHooks, 'shouldStop' | 'onRoundEnd' | 'llm'> {
  /** Signals: the first stops the run after its round, a second at once. */
  readonly interruption?: Interruption;
  /** Write a checkpoint after every this many rounds (docs/checkpoints.md); absent: none. */
  readonly checkpointEvery?: number;
  /** Continue the run already in the directory (resume.ts): its manifest and last checkpoint. */
  readonly resume?: RunResume;
  /**
   * How much the trace keeps (absent: `full`, or a resumed run's own level). `none` writes
   * no checkpoints: a resume reads the trace's rounds for the metrics.
   */
  readonly trace?: TraceLevel;
  /**
   * Whether to draw `report.html` at the end (absent: yes). A sweep's runs skip it unless
   * asked (`mase sweep --run-reports`): drawing its charts is most of a short run's cost, and
   * `mase report DIR` draws it from the run's files whenever it is wanted.
   */
  readonly report?: boolean;
  /**
   * Flushes of events.jsonl between two syncs to disk (absent: `SYNC_EVERY_ROUNDS`), so a
   * machine that crashes loses at most those rounds of a run someone may read or resume.
   * A sweep's run syncs only at its checkpoints and its end (`Infinity`): a run left
   * unfinished is run again from its last checkpoint or from the start, never from a
   * prefix that no checkpoint names.
   */
  readonly syncEvery?: number;
}

/** What a resumed run continues from: the manifest it wrote and its last checkpoint, if any. */
export interface RunResume {
  readonly manifest: Readonly<Record<string, unknown>>;
  readonly checkpoint?: Checkpoint;
}

/**
 * Runs an experiment into `dir`: `manifest.json` (status `running` until the end),
 * `events.jsonl` and `governance-log.jsonl` as the run goes, `metrics.json` at the end.
 * A directory that already holds a run is refused rather than overwritten.
 *
 * However the run ends — completed, stopped by a budget or a signal (`interrupted`), or
 * failed (a model that refuses, a full disk) — it ends the same way: the trace's last
 * whole round, metrics for the rounds played (when they can be written), the log's seal
 * and the manifest with its status and seal. Only a killed process skips this; readers
 * then find a manifest that says `running` and a trace that ends at a whole round.
 */
export async function runToDirectory(
  experiment: ResolvedExperiment,
  dir: string,
  hooks: RunToDirectoryHooks = {},
): Promise<RunArtifacts> {
  // A resumed run's directory holds the run; a new one must be empty.
  const claim = hooks.resume
    ? lockDirectory(dir, 'run directory')
    : claimDirectory(dir, 'run directory');
  const digest = experimentDigest(experiment);
  const runId = digest.slice(0, 32);
  const key = resolveLogKey(runId, { runDir: dir });
  const manifest = {
    run_id: runId,
    digest,
    experiment: experiment.name,
    market: {
      name: experiment.market.name,
      // An environment says so; a market's manifest is as it always was.
      ...(experiment.market.kind === 'environment' ? { kind: 'environment' } : {}),
      // The code that computed an environment of a code kind (runtime/environment/kinds.ts).
      ...(experiment.market.kind === 'environment' && experiment.market.code
        ? { code_kind: kindProvenance(experiment.market.code.kind) }
        : {}),
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
    /** The run this one is a fork of, its round and interventions (absent: not a fork). */
    fork: experiment.fork,
    sources: experiment.sources.map((s) => ({
      path: s.path,
      sha256: s.sha256 ?? createHash('sha256').update(s.text).digest('hex'),
      text: s.text,
    })),
    mase_version: packageVersion(),
    node_version: process.version,
    /**
     * The governance log: its format, where its stored key is, and this run's fresh nonce,
     * to which the log's key is bound (the nonce is in no other file).
     */
    log: {
      format: GOVERNANCE_LOG_FORMAT,
      key: key.source === 'env' ? 'MASE_LOG_KEY' : 'stored in the MASE data directory',
      nonce: randomBytes(16).toString('hex'),
    },
    started_at: new Date().toISOString(),
    ended_at: null as string | null,
    status: 'running' as 'running' | RunStatus,
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
          max_fallback_share: hooks.llm.maxFallbackShare ?? null,
        }
      : undefined,
    /** Where each model's answers came from (LLM firms only). */
    models: undefined as ModelProvenance[] | undefined,
    llm_usage: undefined as
      | { total: UsageCounts; by_agent: Record<string, UsageCounts> }
      | undefined,
    /** Rounds between two checkpoints (absent: the run writes none). */
    checkpoint_every: hooks.checkpointEvery as number | undefined,
    /** How much events.jsonl keeps (docs/architecture.md, "Trace levels"). */
    trace: (hooks.trace ?? 'full') as TraceLevel,
    /**
     * Each time the run was resumed: the checkpoint's round (0: none), when, and how the state
     * then was had: from the checkpoint (`state`) or by playing the rounds again (`replay`).
     */
    resumed: undefined as { round: number; at: string; from?: 'state' | 'replay' }[] | undefined,
    /** Written when the run ends: what `mase verify` checks the log and files against. */
    seal: undefined as ManifestSeal | undefined,
  };
  const resume = hooks.resume;
  const checkpoint = resume?.checkpoint;
  /** A resumed run refused before it changes anything gives its directory back. */
  const refuse = <T>(check: () => T): T => {
    try {
      return check();
    } catch (error) {
      claim.release();
      throw error;
    }
  };
  // A checkpoint with the run's state: the run goes on from it, its trace up to it read
  // (for the metrics), not made again.
  const state = checkpoint
    ? refuse(() => stateOf(checkpoint, join(dir, CHECKPOINT_FILE)))
    : undefined;
  if (resume) {
    // The run as it began (its nonce, start, versions, model settings), going on again.
    const stored = resume.manifest as Partial<typeof manifest>;
    Object.assign(manifest, {
      ...stored,
      status: 'running',
      ended_at: null,
      reason: undefined,
      models: undefined,
      llm_usage: undefined,
      seal: undefined,
      resumed: [
        ...(stored.resumed ?? []),
        {
          round: checkpoint?.round ?? 0,
          at: new Date().toISOString(),
          from: state ? 'state' : 'replay',
        },
      ],
    });
  }
  const checkpointEvery = manifest.checkpoint_every;
  // A resumed run goes on at the level it began with (absent in its manifest: full).
  const level: TraceLevel = manifest.trace ?? 'full';
  if (level === 'none' && checkpointEvery)
    throw new RangeError('a run with no trace (--trace none) writes no checkpoints');
  const manifestPath = join(dir, 'manifest.json');
  // A resumed run's manifest is written when it starts writing again (after its checkpoint).
  if (!checkpoint) writeJsonAtomic(manifestPath, manifest);
  const logKey = runLogKey(key.key, {
    runId,
    manifestDigest: digest,
    nonce: manifest.log.nonce,
    llm: asJsonValue(manifest.llm ?? null),
  });
  let releaseReserve = checkpoint ? () => {} : reserveSpace(dir);
  if (checkpoint)
    refuse(() => checkLogPrefix(dir, logKey, { runId, manifestDigest: digest }, checkpoint));

  // Only what the metrics and the report read is kept in memory: decisions (but those with
  // a rationale) and monitor values are a large share of a long trace and are only written.
  // An environment's run is scored as it goes (EnvironmentScore): its payoff events, one
  // per agent a round, are folded in, and its rounds' values kept packed, not as events.
  const events: TraceEvent[] = [];
  const environmentScore =
    experiment.market.kind === 'environment' ? new EnvironmentScore() : undefined;
  let messages = 0;
  /** The agents, as the header names them: a trace resumed after its header is written for them. */
  let firms: readonly string[] = [];
  /** What the metrics and the report read of each event. */
  const read = (event: TraceEvent) => {
    if (event.type === 'header') firms = event.firms;
    // Messages past the first MESSAGES_KEPT are counted and written, not kept (nor their paraphrases).
    const beyond =
      (event.type === 'message' && ++messages > MESSAGES_KEPT) ||
      (isMessageNote(event) && messages > MESSAGES_KEPT);
    environmentScore?.add(event);
    const scored = environmentScore && (event.type === 'payoff' || event.type === 'environment');
    if (!beyond && keptInMemory(event) && !scored) events.push(event);
  };
  const openFiles = (at?: Checkpoint, hash?: PrefixHash) => {
    const position: GovernanceLogPosition | undefined = at
      ? at.log
      : resume
        ? { bytes: 0, entries: 0, mac: '' }
        : undefined;
    return {
      trace: new TraceWriter(
        join(dir, 'events.jsonl'),
        hooks.syncEvery ?? SYNC_EVERY_ROUNDS,
        at && hash ? { bytes: at.events.bytes, hash } : undefined,
        { level, firms },
      ),
      log: new GovernanceLog(dir, {
        key: logKey,
        manifestDigest: digest,
        runId,
        ...(position ? { resume: position } : {}),
      }),
    };
  };
  /**
   * A resumed run makes its rounds up to the checkpoint again, checked against the trace
   * and written nowhere; the files are opened at the checkpoint when it is reached.
   */
  let replay =
    checkpoint && !state
      ? refuse(() => new PrefixReplay(join(dir, 'events.jsonl'), checkpoint, read, level))
      : undefined;
  let { trace, log } = checkpoint ? ({} as ReturnType<typeof openFiles>) : openFiles();
  const goLive = (at: Checkpoint, hash: PrefixHash) => {
    ({ trace, log } = openFiles(at, hash));
    replay = undefined;
    writeJsonAtomic(manifestPath, manifest);
    releaseReserve = reserveSpace(dir);
  };
  if (checkpoint && state)
    goLive(
      checkpoint,
      refuse(() => readPrefix(join(dir, 'events.jsonl'), checkpoint, read)),
    );
  const writeCheckpoint = (round: number, saving?: () => RunState | undefined) => {
    trace.sync();
    log.sync();
    const now = saving?.();
    const point: Checkpoint = {
      format: CHECKPOINT_FORMAT,
      run_id: runId,
      digest,
      round,
      events: { bytes: trace.bytes, sha256: trace.sha256() },
      log: log.position,
      ...(now ? { state: savedState(now) } : {}),
    };
    writeJsonAtomic(join(dir, CHECKPOINT_FILE), point);
  };
  /** Rounds whose events are on disk. */
  let roundsWritten = checkpoint?.round ?? 0;
  /** Whether the run's end (sealed log, final manifest) is being or has been written. */
  let ending = false;
  hooks.interruption?.onHardStop((signal) => {
    // A second signal after the run's end was written changes nothing: rewriting the
    // sealed manifest would break its MAC. Before a resumed run's checkpoint nothing was changed.
    if (ending || replay) return;
    // A second signal: record what is known, synchronously; the log stays unsealed.
    manifest.status = 'interrupted';
    manifest.rounds_completed = roundsWritten;
    manifest.reason = `stopped at once by a second ${signal}, during round ${roundsWritten + 1}`;
    manifest.ended_at = new Date().toISOString();
    releaseReserve();
    writeJsonAtomic(manifestPath, manifest);
  });
  const interruption = hooks.interruption;
  const stop =
    interruption || hooks.shouldStop
      ? () => interruption?.stopReason() ?? hooks.shouldStop?.()
      : undefined;
  let result: RunResult | undefined;
  let failure: unknown;
  try {
    result = await runExperiment(experiment, {
      onEvent: (event) => {
        if (replay) return replay.check(event);
        read(event);
        trace.write(event);
        const entry = governanceEntryOf(event);
        if (entry) log.append(entry);
      },
      onBlocked: (blocked) => {
        if (!replay) log.append({ kind: 'blocked', ...blocked });
      },
      onRoundEnd: (round, saving) => {
        if (replay) {
          if (checkpoint && round >= checkpoint.round) goLive(checkpoint, replay.end());
        } else {
          trace.flush();
          roundsWritten = round;
          if (checkpointEvery && round % checkpointEvery === 0) writeCheckpoint(round, saving);
        }
        hooks.onRoundEnd?.(round);
      },
      ...(stop ? { shouldStop: stop } : {}),
      ...(hooks.llm ? { llm: hooks.llm } : {}),
      ...(state ? { restore: state } : {}),
    });
  } catch (error) {
    failure = error;
  }
  if (replay) {
    // The resumed run stopped before its checkpoint: the directory is as it was.
    replay.close();
    claim.release();
    if (failure instanceof ResumeError) throw failure;
    const why =
      failure !== undefined
        ? failure instanceof Error
          ? failure.message
          : String(failure)
        : `it ended (${result?.status ?? 'failed'}${result?.reason ? `: ${result.reason}` : ''}) after round ${result?.roundsCompleted ?? 0}`;
    throw new ResumeError(
      `the run did not reach its checkpoint (round ${checkpoint?.round}) again: ${why}; nothing was written`,
    );
  }
  const system = isSystemError(failure) ? failure : undefined;
  // A full disk: give the reserve back, so that how the run ended can still be written.
  if (system) releaseReserve();
  const problems: string[] = [];
  let firstProblem: NodeJS.ErrnoException | undefined;
  const attempt = <T>(path: string, write: () => T): T | undefined => {
    try {
      return write();
    } catch (error) {
      if (!isSystemError(error)) throw error;
      firstProblem ??= error;
      problems.push(describeSystemError(error, join(dir, path)));
      return undefined;
    }
  };
  const status: RunStatus = result ? result.status : 'failed';
  const roundsCompleted = result ? result.roundsCompleted : roundsWritten;
  const reason = result
    ? result.reason
    : system
      ? describeSystemError(system, system.path ?? dir)
      : failure instanceof Error
        ? failure.message
        : String(failure);
  if (!result && !trace.failed) {
    // The trace's end, for a run that failed: after the events of the round it failed in,
    // a run_end line says why it stopped.
    trace.write({
      type: 'run_end',
      status: 'failed',
      rounds_completed: roundsCompleted,
      ...(reason ? { reason } : {}),
    });
    attempt('events.jsonl', () => trace.flush());
  }
  attempt('events.jsonl', () => trace.close());
  let metrics: AnyRunMetrics | undefined;
  let metricsText: string | undefined;
  // A run that failed is scored on the rounds it finished (those its trace holds); one that
  // failed before its first round has nothing to score.
  if (result) metrics = score(events, experiment, environmentScore);
  else if (roundsCompleted > 0)
    metrics = score(
      events.filter((e) => !('round' in e) || e.round <= roundsCompleted),
      experiment,
      environmentScore,
      roundsCompleted,
    );
  if (metrics) {
    const scored = metrics;
    metricsText = attempt('metrics.json', () => writeJsonAtomic(join(dir, 'metrics.json'), scored));
  }
  // A completed run decided too often by fallbacks ends degraded (degraded.ts).
  const outcome =
    result && metrics
      ? runOutcome(result, metrics, hooks.llm?.maxFallbackShare)
      : { status, ...(reason ? { reason } : {}) };
  manifest.status = outcome.status;
  manifest.rounds_completed = roundsCompleted;
  if (outcome.reason) manifest.reason = outcome.reason;
  if (result?.llm) {
    manifest.models = result.llm.provenance();
    manifest.llm_usage = {
      total: { ...result.llm.usage.total },
      by_agent: result.llm.usage.byAgent(),
    };
  }
  manifest.ended_at = new Date().toISOString();
  // From here to the manifest's last write nothing awaits: a signal handler runs before or
  // after all of it.
  ending = true;
  const sealed = attempt('governance-log.jsonl', () =>
    log.seal({
      round: roundsCompleted,
      status: outcome.status,
      events_sha256: trace.sha256(),
      metrics_sha256:
        metricsText === undefined ? null : createHash('sha256').update(metricsText).digest('hex'),
    }),
  );
  attempt('governance-log.jsonl', () => log.close());
  if (sealed)
    sealManifest(manifest, logKey, {
      status: outcome.status,
      rounds_completed: roundsCompleted,
      ...sealed,
    });
  releaseReserve();
  attempt('manifest.json', () => writeJsonAtomic(manifestPath, manifest));
  // A finished run has nothing to resume.
  if (outcome.status === 'completed' || outcome.status === 'degraded')
    rmSync(join(dir, CHECKPOINT_FILE), { force: true });
  claim.release();
  if (failure !== undefined) {
    if (system) {
      const written = problems.length
        ? `; not written either: ${problems.join('; ')}`
        : '; manifest.json says so';
      throw new RunWriteError(
        `${reason}: the run stopped after round ${roundsCompleted}${written}`,
        system,
      );
    }
    throw failure;
  }
  if (firstProblem)
    throw new RunWriteError(
      `the run ended (${status}, ${roundsCompleted} rounds) but ${problems.join('; ')}`,
      firstProblem,
    );
  // Here the run returned (no failure), so it was scored.
  if (!result || !metrics) throw new Error('a run that ended has no result or metrics');
  if (hooks.report === false) return { result, metrics, dir, status: outcome.status };
  // The report is a view of the files above; failing to draw it must not lose the run. It
  // draws the institution governing at the end (a fork's, when it switched to another).
  const governing = governingAfterFork(experiment);
  const lineage = experiment.fork ? { lineage: forkLineage(experiment.fork) } : {};
  try {
    if ('environment' in metrics.run) {
      const { writeEnvironmentReport } = await import('../report/environment-report.js');
      await writeEnvironmentReport(dir, {
        metrics: metrics as EnvironmentMetrics,
        institution: governing.institution,
        title: experiment.market.title,
        ...lineage,
        ...(level !== 'full' ? { trace: level } : {}),
        messages: events.filter((e) => e.type === 'message'),
        notes: events.filter(isMessageNote),
        messagesTotal: messages,
      });
    } else {
      const { writeRunReport } = await import('../report/run-report.js');
      await writeRunReport(dir, {
        institution: governing.institution,
        overrides: governing.overrides,
        ...lineage,
        run: { manifest, metrics: metrics as RunMetrics, events, messagesTotal: messages },
      });
    }
  } catch (error) {
    process.stderr.write(
      `mase: ${dir}/report.html not written: ${error instanceof Error ? error.message : String(error)}\n`,
    );
  }
  return { result, metrics, dir, status: outcome.status };
}
