import { join } from 'node:path';
import type { Command } from 'commander';
import { EXIT } from '../../errors.js';
import type { RunOptions } from '../../run/cli-run.js';
import { loadProgram } from '../../sources.js';
import { answerOptions } from '../answer-options.js';
import type { SetExitCode } from '../command.js';
import { degradedReason, progressHooks, runFailure, statusLine } from '../run-ending.js';

/** `mase run`'s flags: what the runner takes, plus where to write. */
interface RunFlags extends RunOptions {
  out: string;
  resume?: boolean;
}

/** The flags given besides --out and --resume, as typed (`--no-cache` sets `cache: false`). */
function flagsBesideResume(file: string | undefined, options: RunFlags): string[] {
  const given = Object.entries(options)
    .filter(([key, value]) => key !== 'out' && key !== 'resume' && value !== undefined)
    .filter(([key, value]) => !(key === 'cache' && value === true))
    .map(([key, value]) =>
      key === 'cache' && value === false
        ? '--no-cache'
        : `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
    );
  return [...(file ? [file] : []), ...given];
}

/** `mase run [FILE]`: one experiment (or a market with --market, an environment with --environment) into a run directory. */
export function runCommand(program: Command, setExitCode: SetExitCode): void {
  const collect = (value: string, previous: string[] = []) => [...previous, value];
  program
    .command('run')
    .description(
      'run an experiment (or a market or environment with --market/--environment) and write its trace, logs and metrics',
    )
    .argument('[file]', 'source file or stdlib:NAME declaring the experiment')
    .option('--experiment <name>', 'which experiment, when the file declares several')
    .option('--market <spec>', 'a market by name, or FILE|stdlib:NAME (no experiment needed)')
    .option(
      '--environment <spec>',
      'an environment by name, or FILE|stdlib:NAME (commons, minimum_effort, …; no experiment needed)',
    )
    .option('--institution <spec>', 'an institution by name, FILE|stdlib:NAME, or none')
    .option(
      '--agents <policies>',
      'POLICY for every agent, or f1=POLICY,f2=POLICY (fisher1=… in environments)',
    )
    .option(
      '--param <NAME=VALUE>',
      'override a market, environment or institution parameter (repeatable; lists as JSON)',
      collect,
    )
    .option('--rounds <n>', 'number of rounds')
    .option('--seed <n>', 'random seed')
    .option('--horizon <known|unknown>', 'whether agents are told the number of rounds')
    .option(
      '--talk <topology>',
      'talk before acting: none, broadcast, complete, ring, star, small_world(k, p), scale_free(m), chain (one way, in agent order), tree(branching) (one way, parent to children), edges(pairs: "f1-f2, f2>f3") (a-b two-way, a>b one way)',
    )
    .option('--continuation <p>', 'random stopping: another round follows with probability p')
    .option(
      '--model <spec>',
      'the model of llm firms that name none: openai:MODEL, openai-compatible:URL#MODEL',
    )
    .option('--concurrency <n>', 'requests in flight per model endpoint (default 64)')
    .option('--timeout <ms>', 'timeout of one model request (default 30000)')
    .option('--max-tokens <n>', 'token budget: stop the run (interrupted) when it is spent')
    .option('--prices <in,out>', 'model prices per million input and output tokens, for cost')
    .option('--max-cost <amount>', 'cost budget (needs --prices): stop the run when it is spent')
    .option('--prompts <file>', 'prompt templates for llm firms ([system] and [round] sections)')
    .addOption(answerOptions.maxAnswerBytes())
    .addOption(answerOptions.maxRetryWait())
    .addOption(answerOptions.maxFallbackShare())
    .option(
      '--cache <file>',
      'the response cache of llm firms (default: in the MASE data directory)',
    )
    .option('--no-cache', 'ask the models afresh and keep no answers (the run cannot be replayed)')
    .option(
      '--checkpoint-every <k>',
      'write a checkpoint every K rounds, to resume from (0: none; default: 1 when firms ask models, else 0)',
    )
    .option(
      '--trace <level>',
      'how much events.jsonl keeps: full (default), summary (all but per-agent payoff rows, packed a round a row) or none (header and end); metrics are the same',
    )
    .option(
      '--resume',
      'continue the run in --out from its last checkpoint, with the sources and flags it recorded',
    )
    .requiredOption(
      '--out <dir>',
      'directory for manifest.json, events.jsonl, governance-log.jsonl, metrics.json, report.html (and sanctions.csv)',
    )
    .action(async (file: string | undefined, options: RunFlags) => {
      if (options.resume) {
        const beside = flagsBesideResume(file, options);
        if (beside.length > 0) {
          process.stderr.write(
            `mase: --resume continues the run in --out with the sources and flags it recorded; drop ${beside.join(', ')}\n`,
          );
          return setExitCode(EXIT.usage);
        }
      }
      const { prepareRun } = await import('../../run/cli-run.js');
      const prepared = options.resume ? undefined : await prepareRun(file, options, loadProgram);
      if (prepared && 'exitCode' in prepared) return setExitCode(prepared.exitCode);
      const { runToDirectory, marketMetrics } = await import('../../run/artifacts.js');
      const { summaryTable } = await import('../../run/summary.js');
      const { benchmarkWarnings } = await import('../../metrics.js');
      const { Interruption, signalExitCode } = await import('../../run/signals.js');
      const interruption = new Interruption();
      let artifacts: Awaited<ReturnType<typeof runToDirectory>>;
      try {
        if (prepared) {
          artifacts = await runToDirectory(prepared.experiment, options.out, {
            ...progressHooks(prepared.experiment.rounds),
            ...(prepared.llm ? { llm: prepared.llm } : {}),
            ...(prepared.checkpointEvery ? { checkpointEvery: prepared.checkpointEvery } : {}),
            trace: prepared.trace,
            interruption,
          });
        } else {
          const { resumeRun } = await import('../../run/resume.js');
          artifacts = await resumeRun(options.out, { interruption });
        }
      } catch (error) {
        throw await runFailure(error, 'run', `${options.out}/manifest.json says so`);
      } finally {
        interruption.dispose();
      }
      const label = prepared?.experiment.name ?? artifacts.metrics.run.experiment;
      process.stdout.write(`${summaryTable([{ label, artifacts }])}\n`);
      if (!('environment' in artifacts.metrics.run))
        for (const warning of benchmarkWarnings(marketMetrics(artifacts.metrics).benchmarks))
          process.stderr.write(`mase: warning: ${warning}\n`);
      if (artifacts.status === 'degraded')
        process.stderr.write(`mase: the run is degraded: ${degradedReason(options.out)}\n`);
      process.stderr.write(
        `wrote ${options.out} (status: ${statusLine(artifacts)}; open ${join(options.out, 'report.html')})\n`,
      );
      if (interruption.received) setExitCode(signalExitCode(interruption.received));
      else if (artifacts.status !== 'completed') setExitCode(EXIT.sourceErrors);
    });
}
