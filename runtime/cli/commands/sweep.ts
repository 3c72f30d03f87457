import type { Command } from 'commander';
import { loadProgram } from '../../sources.js';
import type { SweepFlags } from '../../sweep/cli.js';
import { MAX_WORKERS } from '../../sweep/workers.js';
import { answerOptions } from '../answer-options.js';
import type { SetExitCode } from '../command.js';

/** `mase sweep FILE --out DIR`: every run of a sweep, into one results store (runtime/sweep/cli.ts). */
export function sweepCommand(program: Command, setExitCode: SetExitCode): void {
  program
    .command('sweep')
    .description(
      'run every run of a sweep, on local worker threads or through a Redis queue, into one results store',
    )
    .argument('<file>', 'source file declaring the sweep (and its base experiment)')
    .option('--sweep <name>', 'which sweep, when the file declares several')
    .option('--workers <n>', 'local worker threads (default and most: the number of cores)')
    .option('--force-workers', `allow --workers above the number of cores (at most ${MAX_WORKERS})`)
    .option('--queue <url>', 'redis://HOST:PORT: enqueue the runs for `mase worker`s')
    .option('--artifacts <dir>', 'where run directories go (default: --out); workers must reach it')
    .requiredOption('--out <dir>', 'the sweep directory: records, results.duckdb/.csv/.parquet')
    .option('--resume', 'continue the sweep in --out: finished runs are kept, the others run')
    .option('--retry-failed', 'with --resume: run the failed runs again too')
    .option(
      '--checkpoint-every <k>',
      "each run's checkpoints, to resume from (0: none; default: 1 when firms ask models, else 0)",
    )
    .option(
      '--trace <level>',
      "how much each run's events.jsonl keeps: full, summary (default: all but per-agent payoff rows, packed a round a row) or none (header and end)",
    )
    .option(
      '--run-reports',
      "draw each run's report.html as it ends (default: not; `mase report DIR` draws one from the run's files)",
    )
    .option('--model <spec>', 'the model of llm firms that name none')
    .option('--concurrency <n>', 'requests in flight per model endpoint (default 64)')
    .option('--timeout <ms>', 'timeout of one model request (default 30000)')
    .option('--prices <in,out>', 'model prices per million input and output tokens, for cost')
    .option('--prompts <file>', 'prompt templates for llm firms')
    .addOption(answerOptions.maxAnswerBytes())
    .addOption(answerOptions.maxRetryWait())
    .addOption(answerOptions.maxFallbackShare())
    .option('--cache <file>', 'the response cache of llm firms')
    .option('--no-cache', 'ask the models afresh and keep no answers')
    .action(async (file: string, flags: SweepFlags) => {
      const { sweepCommand: runSweepCommand } = await import('../../sweep/cli.js');
      setExitCode(await runSweepCommand(await loadProgram([file]), flags));
    });
}
