import type { Command } from 'commander';
import { UsageProblem } from '../../errors.js';
import { wholeNumber } from '../../run/flags.js';

/** `mase analyze DIR`: a sweep's statistics, as text or JSON. */
export function analyzeCommand(program: Command): void {
  program
    .command('analyze')
    .description(
      'statistics of a sweep: per-level means with bootstrap CIs, paired regime comparisons, tipping points, phase diagrams; of a fork directory, also the effect round by round',
    )
    .argument('<dir>', 'a sweep directory')
    .option('--format <format>', 'text or json', 'text')
    .option(
      '--threshold <x>',
      'the value of the followed outcome whose crossing is the tipping point (markets: the collusion index, default 0.5; environments: the --metric, no default)',
    )
    .option(
      '--metric <name>',
      "an environment sweep's declared metric to compare and follow (default: the first declared)",
    )
    .option('--seed <n>', 'seed of the bootstrap and permutation draws', '1')
    .option(
      '--include-degraded',
      'count degraded runs (decided too often by fallbacks) as completed; by default they are left out',
    )
    .action(
      async (
        dir: string,
        flags: {
          format: string;
          threshold?: string;
          metric?: string;
          seed: string;
          includeDegraded?: boolean;
        },
      ) => {
        if (flags.format !== 'text' && flags.format !== 'json')
          throw new UsageProblem(`--format takes text or json, not \`${flags.format}\``);
        const threshold = flags.threshold === undefined ? undefined : Number(flags.threshold);
        if (threshold !== undefined && !Number.isFinite(threshold))
          throw new UsageProblem(`--threshold takes a number, not \`${flags.threshold}\``);
        const seed = wholeNumber('--seed', flags.seed);
        const { analyzeAnySweep, formatAnalysis } = await import('../../sweep/analyze.js');
        const analysis = await analyzeAnySweep(dir, {
          ...(threshold === undefined ? {} : { threshold }),
          ...(flags.metric === undefined ? {} : { metric: flags.metric }),
          seed,
          includeDegraded: flags.includeDegraded === true,
        });
        // A fork directory (mase fork) adds the intervention's effect round by round.
        const { forkPerRound, formatPerRound } = await import('../../sweep/fork.js');
        const perRound = forkPerRound(dir, seed);
        process.stdout.write(
          flags.format === 'json'
            ? `${JSON.stringify(perRound ? { ...analysis, per_round: perRound } : analysis, null, 2)}\n`
            : `${formatAnalysis(analysis)}\n${perRound ? `\n${formatPerRound(perRound)}` : ''}`,
        );
      },
    );
}
