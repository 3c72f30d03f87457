import type { Command } from 'commander';
import type { RunOptions } from '../../run/cli-run.js';
import { answerOptions } from '../answer-options.js';

/** `mase worker --queue URL`: takes runs of any sweep from a Redis queue until Ctrl-C. */
export function workerCommand(program: Command): void {
  program
    .command('worker')
    .description('take runs of any sweep from a Redis queue, run them and return their results')
    .requiredOption('--queue <url>', 'redis://HOST:PORT')
    .option('--artifacts <dir>', 'where this machine reaches the shared artifacts directory')
    .option('--name <name>', 'the name results record (default: HOST:PID)')
    .option('--concurrency <n>', 'runs at once (default 1)')
    .option('--model <spec>', 'the model of llm firms that name none')
    .option('--timeout <ms>', 'timeout of one model request (default 30000)')
    .option('--prices <in,out>', 'model prices per million input and output tokens, for cost')
    .addOption(answerOptions.maxAnswerBytes())
    .addOption(answerOptions.maxRetryWait())
    .addOption(answerOptions.maxFallbackShare())
    .option('--cache <file>', 'the response cache of llm firms')
    .option('--no-cache', 'ask the models afresh and keep no answers')
    .action(
      async (
        flags: { queue: string; artifacts?: string; name?: string; concurrency?: string } & Pick<
          RunOptions,
          | 'model'
          | 'timeout'
          | 'prices'
          | 'cache'
          | 'maxAnswerBytes'
          | 'maxRetryWait'
          | 'maxFallbackShare'
        >,
      ) => {
        const { startWorker } = await import('../../sweep/redis.js');
        const { llmOptions, positive } = await import('../../run/cli-run.js');
        // Bad flags are UsageProblems (exit 2); a queue that cannot be reached is a QueueError.
        const concurrency = positive('--concurrency', flags.concurrency) ?? 1;
        const llm = llmOptions({
          ...(flags.model ? { model: flags.model } : {}),
          ...(flags.timeout ? { timeout: flags.timeout } : {}),
          ...(flags.prices ? { prices: flags.prices } : {}),
          ...(flags.cache !== undefined ? { cache: flags.cache } : {}),
          ...(flags.maxAnswerBytes ? { maxAnswerBytes: flags.maxAnswerBytes } : {}),
          ...(flags.maxRetryWait ? { maxRetryWait: flags.maxRetryWait } : {}),
          ...(flags.maxFallbackShare ? { maxFallbackShare: flags.maxFallbackShare } : {}),
        });
        const worker = await startWorker({
          queue: flags.queue,
          ...(flags.artifacts ? { artifacts: flags.artifacts } : {}),
          ...(flags.name ? { name: flags.name } : {}),
          concurrency,
          llm,
          log: (line: string) => process.stderr.write(`${line}\n`),
        });
        process.stderr.write(`mase worker: taking runs from ${flags.queue} (Ctrl-C stops)\n`);
        await new Promise<void>((resolve) => {
          const stop = () => resolve();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        await worker.close();
      },
    );
}
