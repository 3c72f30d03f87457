import { join, posix } from 'node:path';
import {
  compileSources,
  renderDiagnostics,
  type SourceText,
  summary,
} from '../../compiler/index.js';
import { runtimePolicies } from '../policy-names.js';
import { checkpointsAt } from '../run/checkpoint.js';
import { llmOptions, positive, type RunOptions, wholeNumber } from '../run/cli-run.js';
import { traceLevelFlag } from '../run/flags.js';
import { type LoadedProgram, librarySources } from '../sources.js';
import { SweepProblem } from './errors.js';
import { SWEEP_TRACE } from './execute.js';
import { RESULTS_CSV, RESULTS_DATABASE, RESULTS_PARQUET } from './store.js';
import { runSweep } from './sweep.js';
import { workerCount } from './workers.js';

export interface SweepFlags
  extends Pick<
    RunOptions,
    | 'model'
    | 'concurrency'
    | 'timeout'
    | 'prices'
    | 'prompts'
    | 'cache'
    | 'maxAnswerBytes'
    | 'maxRetryWait'
    | 'maxFallbackShare'
  > {
  sweep?: string;
  workers?: string;
  forceWorkers?: boolean;
  queue?: string;
  artifacts?: string;
  out: string;
  resume?: boolean;
  retryFailed?: boolean;
  checkpointEvery?: string;
  trace?: string;
  runReports?: boolean;
}

/** A message for the user and the exit code (1: the sources have errors, 2: the request does not work). */
export class SweepCliError extends SweepProblem {}

/** `mase sweep FILE …`: compiles, picks the sweep, runs it; prints a summary. Returns the exit code. */
export async function sweepCommand(
  { sources, unreadable }: LoadedProgram,
  flags: SweepFlags,
): Promise<number> {
  // Flags first: each is checked as `mase run` checks its own (a bad one is a UsageProblem).
  const choice = workerCount(positive('--workers', flags.workers), flags.forceWorkers === true);
  if ('problem' in choice) throw new SweepCliError(choice.problem, 2);
  if (choice.warning && flags.queue === undefined)
    process.stderr.write(`mase: warning: ${choice.warning}\n`);
  const workers = choice.workers;
  const llm = llmOptions(flags);
  const checkpointEvery =
    flags.checkpointEvery === undefined
      ? undefined
      : wholeNumber('--checkpoint-every', flags.checkpointEvery);
  const trace = traceLevelFlag('--trace', flags.trace, SWEEP_TRACE);
  // Refused here for every run alike (an experiment's own `checkpoint every` is refused in its run).
  if (checkpointEvery !== undefined) checkpointsAt(trace, checkpointEvery, false);
  if (flags.queue !== undefined) (await import('./redis.js')).parseQueueUrl(flags.queue);
  if (flags.retryFailed && !flags.resume)
    throw new SweepCliError('--retry-failed goes with --resume', 2);
  const compiled = compileSources([...sources], librarySources(), {
    includeLibrary: true,
    policies: runtimePolicies(),
    unreadable,
  });
  if (!compiled.ok) {
    const texts = new Map([...librarySources(), ...sources].map((s) => [s.path, s.text]));
    const errors = compiled.diagnostics.filter((d) => d.severity === 'error');
    throw new SweepCliError(`${renderDiagnostics(errors, texts)}\n\n${summary(errors)}`, 1);
  }
  const sweeps = compiled.program.sweeps;
  let name = flags.sweep;
  if (name === undefined) {
    if (sweeps.length === 1) name = sweeps[0]?.name;
    else
      throw new SweepCliError(
        sweeps.length === 0
          ? 'the file declares no sweep'
          : `the file declares several sweeps (${sweeps.map((s) => s.name).join(', ')}); choose one with --sweep`,
        2,
      );
  } else if (!sweeps.some((s) => s.name === name)) {
    throw new SweepCliError(
      `no sweep \`${name}\`; the file declares ${sweeps.map((s) => s.name).join(', ') || 'none'}`,
      2,
    );
  }
  {
    // Runs are named by what they run, not by where the file was found from: the sweep's
    // files are known by their paths from the sweep file's folder, so a sweep resumed from
    // another directory (or moved with its folder) has the same run ids.
    const outcome = await runSweep({
      sources: portableSources(sources),
      sweep: name as string,
      out: flags.out,
      ...(flags.artifacts ? { artifacts: flags.artifacts } : {}),
      workers,
      ...(flags.queue ? { queue: flags.queue } : {}),
      resume: flags.resume === true,
      retryFailed: flags.retryFailed === true,
      llm,
      ...(checkpointEvery !== undefined ? { checkpointEvery } : {}),
      trace,
      ...(flags.runReports ? { runReports: true } : {}),
      progress: Boolean(process.stderr.isTTY),
    });
    const failed = outcome.records.filter((r) => r.status === 'failed').length;
    const degraded = outcome.records.filter((r) => r.status === 'degraded').length;
    const planned = outcome.plan.runs.length;
    process.stdout.write(
      [
        `sweep ${outcome.plan.sweep.name}: ${outcome.plan.cells} cells × ${outcome.plan.sweep.replicates} replicates = ${planned} runs${
          outcome.plan.repeatedCells > 0
            ? ` (the design drew ${outcome.plan.repeatedCells} cell${outcome.plan.repeatedCells === 1 ? '' : 's'} again; each is run once)`
            : ''
        }`,
        `  ${outcome.records.length - failed - degraded} completed${degraded > 0 ? `, ${degraded} degraded` : ''}, ${failed} failed, ${planned - outcome.records.length} not run; ${outcome.executed} run now${
          flags.queue === undefined ? ` on ${workers} worker${workers === 1 ? '' : 's'}` : ''
        }`,
        ...(degraded > 0
          ? [
              `  degraded: ${degraded} run${degraded === 1 ? '' : 's'} decided too often by fallbacks (status degraded in the results); mase analyze leaves them out unless --include-degraded`,
            ]
          : []),
        ...(outcome.reason ? [`  stopped: ${outcome.reason} (continue with --resume)`] : []),
        `  results: ${[RESULTS_CSV, RESULTS_PARQUET, RESULTS_DATABASE].map((f) => join(flags.out, f)).join(' · ')}`,
        `  next: mase analyze ${flags.out} · mase report ${flags.out}`,
        '',
      ].join('\n'),
    );
    return outcome.status === 'completed' && failed === 0 && degraded === 0 ? 0 : 1;
  }
}

/**
 * The sources named from the first (the sweep's file) folder: it by its base name, the
 * files it imports by their relative paths, so that imports still resolve between them.
 */
export function portableSources(sources: readonly SourceText[]): SourceText[] {
  const from = posix.dirname(sources[0]?.path ?? '.');
  const rename = (path: string) => posix.relative(from, path);
  return sources.map((s) => ({
    ...s,
    path: rename(s.path),
    ...(s.imports ? { imports: s.imports.map(rename) } : {}),
  }));
}
