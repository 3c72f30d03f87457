import { type Command, Option } from 'commander';
import { UsageProblem } from '../../errors.js';
import { wholeNumber } from '../../run/flags.js';
import { MAX_WORKERS } from '../../sweep/workers.js';
import { answerOptions } from '../answer-options.js';
import { progressHooks, runFailure } from '../run-ending.js';

/** `mase demo`: the finding (Q-learning firms, no model) and the machinery (LLM firms), into one report. */
export function demoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'part 1: Q-learning firms under no institution and the governance graph, a small sweep with replicates; part 2: LLM firms for a few rounds under the constitution and the graph; then how to rerun on a real model',
    )
    .option('--only <part>', 'run one part: finding (part 1, no model) or machinery (part 2)')
    .option('--rounds <n>', 'rounds of each Q-learning run in part 1 (default 20000)')
    .option(
      '--replicates <n>',
      'replicates per regime in part 1 (default 6: the fewest pairs whose sign-flip test can reach p < 0.05)',
    )
    .option('--llm-rounds <n>', 'rounds of the governance-graph run in part 2 (default 3)')
    .option(
      '--model <spec>',
      'the model of part 2: local (the embedded model, the default), openai:MODEL, openai-compatible:URL#MODEL',
    )
    .option('--workers <n>', 'worker threads of part 1 (default and most: the cores)')
    .option('--force-workers', `allow --workers above the number of cores (at most ${MAX_WORKERS})`)
    .option('--seed <n>', 'seed of the sweep and of the LLM runs (default 1)')
    .option('--out <dir>', 'where the sweep, the runs and the report go', 'mase-demo')
    .option('--no-cache', 'ask the model afresh instead of reusing cached answers')
    .addOption(answerOptions.maxFallbackShare())
    .addOption(new Option('--agents <kind>').hideHelp())
    .action(
      async (options: {
        only?: string;
        rounds?: string;
        replicates?: string;
        llmRounds?: string;
        model?: string;
        workers?: string;
        forceWorkers?: boolean;
        seed?: string;
        out: string;
        cache: boolean;
        agents?: string;
        maxFallbackShare?: string;
      }) => {
        if (options.agents !== undefined)
          throw new UsageProblem(
            '--agents is gone: `mase demo` runs Q-learning firms (part 1) and LLM firms (part 2); `--only finding` runs part 1 alone, with no model',
          );
        if (
          options.only !== undefined &&
          options.only !== 'finding' &&
          options.only !== 'machinery'
        )
          throw new UsageProblem(`--only takes finding or machinery, not \`${options.only}\``);
        const [
          { DEMO_DEFAULTS, runDemo },
          { workerCount },
          { parseModelSpec, ModelSpecError },
          { defaultCachePath },
        ] = await Promise.all([
          import('../../run/demo.js'),
          import('../../sweep/workers.js'),
          import('../../llm/spec.js'),
          import('../../llm/cache.js'),
        ]);
        const orDefault = (
          flag: string,
          value: string | undefined,
          fallback: number,
          least: number,
        ) => (value === undefined ? fallback : wholeNumber(flag, value, least));
        const rounds = orDefault('--rounds', options.rounds, DEMO_DEFAULTS.rounds, 2);
        const replicates = orDefault(
          '--replicates',
          options.replicates,
          DEMO_DEFAULTS.replicates,
          1,
        );
        const llmRounds = orDefault('--llm-rounds', options.llmRounds, DEMO_DEFAULTS.llmRounds, 1);
        const choice = workerCount(
          options.workers === undefined ? undefined : wholeNumber('--workers', options.workers, 1),
          options.forceWorkers === true,
        );
        if ('problem' in choice) throw new UsageProblem(choice.problem);
        if (choice.warning) process.stderr.write(`mase: warning: ${choice.warning}\n`);
        const workers = choice.workers;
        const seed = orDefault('--seed', options.seed, DEMO_DEFAULTS.seed, 0);
        const model = options.model ?? DEMO_DEFAULTS.model;
        try {
          parseModelSpec(model);
        } catch (error) {
          if (error instanceof ModelSpecError) throw new UsageProblem(`--model: ${error.message}`);
          throw error;
        }
        const { llmOptions } = await import('../../run/cli-run.js');
        const limits = llmOptions({
          cache: false,
          ...(options.maxFallbackShare ? { maxFallbackShare: options.maxFallbackShare } : {}),
        });
        try {
          await runDemo({
            out: options.out,
            parts: options.only
              ? [options.only as 'finding' | 'machinery']
              : ['finding', 'machinery'],
            rounds,
            replicates,
            llmRounds,
            seed,
            workers,
            model,
            llm: {
              ...limits,
              ...(options.cache ? { cache: { path: defaultCachePath(), mode: 'record' } } : {}),
            },
            progress: progressHooks,
            progressBar: Boolean(process.stderr.isTTY),
            write: (text) => process.stdout.write(text),
          });
        } catch (error) {
          throw await runFailure(
            error,
            'demo',
            `the manifest.json files under ${options.out} say so`,
          );
        }
      },
    );
}
