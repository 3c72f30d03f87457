import { existsSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import type { SourceText } from '../../compiler/index.js';
import { kindFolders } from '../environment/kinds.js';
import {
  type DirectoryLock,
  DirectoryLockedError,
  entriesBesideLock,
  lockDirectory,
  removeStalePartials,
  writeFileAtomic,
} from '../files.js';
import type { RunLlmOptions } from '../run/run.js';
import type { TraceLevel } from '../trace/events.js';
import { SweepProblem } from './errors.js';
import { planFor, SWEEP_TRACE, type SweepJob, sweepDigest, writeRecord } from './execute.js';
import type { SweepPlan } from './plan.js';
import { runOnPool } from './pool.js';
import type { RunRecord } from './record.js';
import { runOnQueue } from './redis.js';
import { buildResultsStore, environmentColumnProblem, factorNameProblem } from './store.js';

/** A problem with a sweep request (a directory in use, another sweep's results): a message, exit 2. */
export class SweepRequestError extends SweepProblem {}

export interface SweepOptions {
  /** The user's source files (the stdlib is added by whoever compiles them). */
  readonly sources: readonly SourceText[];
  readonly sweep: string;
  readonly out: string;
  /** Where run directories go (default: `out`); workers of a queue must all reach it. */
  readonly artifacts?: string;
  readonly workers: number;
  /** `redis://HOST:PORT`: enqueue runs for `mase worker`s instead of running them here. */
  readonly queue?: string;
  readonly resume: boolean;
  /** With `resume`: run again the runs that failed or are degraded. */
  readonly retryFailed?: boolean;
  readonly llm?: RunLlmOptions;
  /** Rounds between checkpoints of each run (absent: the default; 0: none). */
  readonly checkpointEvery?: number;
  /** How much each run's trace keeps (absent: `SWEEP_TRACE`, summary). */
  readonly trace?: TraceLevel;
  /** Whether each run draws its report.html (absent: no; `mase report DIR` draws one later). */
  readonly runReports?: boolean;
  /** Draw a progress bar on stderr (when it is a terminal). */
  readonly progress: boolean;
  /** Where warnings go (a damaged record set aside, a lock taken over); default stderr. */
  readonly warn?: (message: string) => void;
}

export interface SweepOutcome {
  readonly status: 'completed' | 'interrupted';
  readonly reason?: string;
  readonly plan: SweepPlan;
  readonly records: readonly RunRecord[];
  /** Runs executed by this invocation (the rest were finished before a resume). */
  readonly executed: number;
}

/** What `DIR/sweep.json` holds: enough to check a resume and to rebuild the plan later. */
interface SweepFile {
  readonly schema: 1;
  readonly sweep: string;
  readonly digest: string;
  readonly title: string;
  readonly factors: readonly string[];
  readonly runs: readonly string[];
  readonly artifacts: string;
  readonly sources: readonly SourceText[];
  readonly created_at: string;
}

/** A record file that cannot be read as a record, and why. */
export interface DamagedRecord {
  readonly file: string;
  readonly reason: string;
}

/** Why `text` (the file `records/<file>`) is not a run record, or undefined when it is one. */
function recordProblem(file: string, text: string): string | undefined {
  if (text.trim() === '') return 'it is empty';
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return `it is not JSON (${error instanceof Error ? error.message : String(error)})`;
  }
  const record = value as Partial<RunRecord> | null;
  if (record === null || typeof record !== 'object' || Array.isArray(record))
    return 'it is not a JSON object';
  if (`${record.run_id}.json` !== file) return 'its run_id is not its file name';
  if (record.status !== 'completed' && record.status !== 'failed')
    return 'it has no status completed or failed';
  return undefined;
}

/**
 * Reads every run record of a sweep directory (one file per run id). A file that is not a
 * record (empty, cut short, overwritten) is renamed to `<name>.damaged` — kept for a look,
 * out of the way — and reported to `onDamaged`, so its run counts as not run (only a
 * caller holding the directory's lock may pass `onDamaged`; without it a damaged file is an
 * error naming it).
 */
export function readRecords(
  dir: string,
  onDamaged?: (damaged: DamagedRecord) => void,
): RunRecord[] {
  const records = join(dir, 'records');
  if (!existsSync(records)) return [];
  const read: RunRecord[] = [];
  for (const file of readdirSync(records)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const path = join(records, file);
    const text = readFileSync(path, 'utf8');
    const problem = recordProblem(file, text);
    if (problem === undefined) {
      read.push(JSON.parse(text) as RunRecord);
      continue;
    }
    if (!onDamaged) throw new SweepRequestError(`${path} is damaged: ${problem}`);
    renameSync(path, `${path}.damaged`);
    onDamaged({ file: path, reason: problem });
  }
  return read;
}

export function readSweepFile(dir: string): SweepFile {
  const path = join(dir, 'sweep.json');
  if (!existsSync(path))
    throw new SweepRequestError(
      `${dir} holds no sweep (no sweep.json): run \`mase sweep … --out ${dir}\` first`,
    );
  const text = readFileSync(path, 'utf8');
  try {
    const file = JSON.parse(text) as SweepFile;
    if (typeof file.digest === 'string' && Array.isArray(file.sources)) return file;
  } catch {
    // reported below
  }
  throw new SweepRequestError(
    `${path} is damaged (${text.trim() === '' ? 'empty' : 'not the sweep file MASE wrote'}); the sweep cannot be resumed from it: run it again into a new --out`,
  );
}

/** The sweep `dir` was made by, recompiled from the sources it saved. */
export function planOfDirectory(dir: string): SweepPlan {
  const file = readSweepFile(dir);
  return planFor(file.sources, file.sweep);
}

/**
 * Runs a sweep into `out`: plans it, skips runs already recorded when resuming, runs the
 * rest on the local pool or through a queue, writes each run's record as it arrives, and
 * builds the results store from all records at the end. The sweep's token/cost budget
 * stops new runs from starting once the recorded runs have spent it.
 */
export async function runSweep(options: SweepOptions): Promise<SweepOutcome> {
  const out = resolve(options.out);
  const plan = planFor(options.sources, options.sweep);
  // Say before any run that a factor's name is taken by a column of the results.
  for (const factor of plan.factorOrder) {
    const problem = factorNameProblem(factor);
    if (problem) throw new SweepRequestError(problem);
  }
  if (plan.world.kind === 'environment') {
    const problem = environmentColumnProblem(plan.world.metrics, plan.factorOrder);
    if (problem) throw new SweepRequestError(problem);
  }
  const warn =
    options.warn ?? ((message: string) => process.stderr.write(`mase: warning: ${message}\n`));
  // One sweep process per directory: a second `--resume` would run every run again.
  let lock: DirectoryLock;
  try {
    lock = lockDirectory(out, 'sweep directory', warn);
  } catch (error) {
    if (error instanceof DirectoryLockedError) throw new SweepRequestError(error.message);
    throw error;
  }
  try {
    // Aside files of writers that died (their targets are whole: each was renamed into place).
    removeStalePartials(out);
    removeStalePartials(join(out, 'records'));
    return await runLockedSweep(options, plan, out, warn);
  } finally {
    lock.release();
  }
}

/** `runSweep` once the directory is locked. */
async function runLockedSweep(
  options: SweepOptions,
  plan: SweepPlan,
  out: string,
  warn: (message: string) => void,
): Promise<SweepOutcome> {
  const digest = sweepDigest(options.sources, options.sweep);
  const artifacts = resolve(options.artifacts ?? out);
  const sweepPath = join(out, 'sweep.json');
  if (entriesBesideLock(out).length > 0) {
    if (!options.resume)
      throw new SweepRequestError(
        `${options.out} is not empty: add --resume to continue the sweep there, or choose a new --out`,
      );
    if (!existsSync(sweepPath))
      throw new SweepRequestError(`${options.out} holds no sweep to resume (no sweep.json)`);
    const previous = readSweepFile(out);
    if (previous.digest !== digest)
      throw new SweepRequestError(
        `${options.out} holds sweep ${previous.sweep} from other sources; --resume continues only the same sweep`,
      );
  }
  // --resume in an empty or missing directory is a fresh start.
  const file: SweepFile = {
    schema: 1,
    sweep: plan.sweep.name,
    digest,
    title: plan.sweep.title,
    factors: plan.factorOrder,
    runs: plan.runs.map((r) => r.runId),
    artifacts,
    sources: options.sources,
    created_at: existsSync(sweepPath) ? readSweepFile(out).created_at : new Date().toISOString(),
  };
  writeFileAtomic(sweepPath, `${JSON.stringify(file, null, 2)}\n`);

  const planned = new Set(plan.runs.map((r) => r.runId));
  const finished = new Map<string, RunRecord>();
  const stored = readRecords(out, (damaged) =>
    warn(
      `${damaged.file} is damaged (${damaged.reason}): set aside as ${damaged.file}.damaged; its run is done again`,
    ),
  );
  for (const r of stored) if (planned.has(r.run_id)) finished.set(r.run_id, r);
  const todo = plan.runs.filter((r) => {
    const done = finished.get(r.runId);
    // A degraded run (its answers were mostly fallbacks) is run again with the failed ones.
    return !done || (options.retryFailed === true && done.status !== 'completed');
  });
  const jobs: SweepJob[] = todo.map((r) => ({
    sources: options.sources,
    sweep: plan.sweep.name,
    runId: r.runId,
    trace: options.trace ?? SWEEP_TRACE,
    ...(options.runReports ? { runReports: true } : {}),
  }));

  const spent = { tokens: 0, cost: 0 };
  for (const r of finished.values()) {
    spent.tokens += r.metrics?.tokens ?? 0;
    spent.cost += r.metrics?.cost ?? 0;
  }
  const budget = plan.sweep.budget;
  const exhausted = (): string | undefined => {
    if (budget?.tokens !== undefined && spent.tokens >= budget.tokens)
      return `the sweep's token budget (${budget.tokens}) is spent: ${spent.tokens} tokens used`;
    if (budget?.cost !== undefined && spent.cost >= budget.cost)
      return `the sweep's cost budget (${budget.cost}) is spent: ${spent.cost.toFixed(4)} used`;
    return undefined;
  };

  const progress = new SweepProgress(plan.runs.length, [...finished.values()], options.progress);
  let executed = 0;
  const onRecord = (record: RunRecord) => {
    writeRecord(out, record);
    finished.set(record.run_id, record);
    spent.tokens += record.metrics?.tokens ?? 0;
    spent.cost += record.metrics?.cost ?? 0;
    executed++;
    progress.update(record, spent);
  };
  let reason = exhausted();
  try {
    if (!reason && jobs.length > 0) {
      if (options.queue) {
        await runOnQueue({
          queue: options.queue,
          jobs,
          dir: out,
          artifacts,
          onRecord,
          shouldStop: () => exhausted() !== undefined,
        });
      } else {
        await runOnPool({
          jobs,
          workers: options.workers,
          execute: {
            artifacts,
            ...(options.llm ? { llm: options.llm } : {}),
            ...(options.checkpointEvery !== undefined
              ? { checkpointEvery: options.checkpointEvery }
              : {}),
            kinds: kindFolders(),
          },
          onRecord,
          shouldStop: () => exhausted() !== undefined,
        });
      }
    }
  } finally {
    progress.stop();
  }
  reason ??= finished.size < plan.runs.length ? exhausted() : undefined;
  const records = plan.runs.flatMap((r) => {
    const record = finished.get(r.runId);
    return record ? [record] : [];
  });
  await buildResultsStore(out, records, plan.factorOrder, plan.world);
  return {
    status: reason ? 'interrupted' : 'completed',
    ...(reason ? { reason } : {}),
    plan,
    records,
    executed,
  };
}

/** The sweep's progress bar: done, failed, remaining, ETA, tokens and cost so far. */
class SweepProgress {
  private readonly bar: cliProgress.SingleBar | undefined;
  private done: number;
  private failed: number;
  private degraded: number;

  constructor(
    private readonly total: number,
    finished: readonly RunRecord[],
    show: boolean,
  ) {
    this.done = finished.length;
    this.failed = finished.filter((r) => r.status === 'failed').length;
    this.degraded = finished.filter((r) => r.status === 'degraded').length;
    if (!show) return;
    this.bar = new cliProgress.SingleBar(
      {
        format:
          'sweep [{bar}] {value}/{total} done · {failed} failed · {degraded} degraded · {remaining} left · ETA {eta_formatted} · {tokens} tokens · cost {cost}',
        stream: process.stderr,
        hideCursor: true,
        etaBuffer: 20,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(total, this.done, this.payload({ tokens: 0, cost: 0 }));
  }

  private payload(spent: { tokens: number; cost: number }) {
    return {
      failed: this.failed,
      degraded: this.degraded,
      remaining: this.total - this.done,
      tokens: spent.tokens,
      cost: spent.cost.toFixed(4),
    };
  }

  update(record: RunRecord, spent: { tokens: number; cost: number }): void {
    this.done++;
    if (record.status === 'failed') this.failed++;
    if (record.status === 'degraded') this.degraded++;
    this.bar?.update(this.done, this.payload(spent));
  }

  stop(): void {
    this.bar?.stop();
  }
}
