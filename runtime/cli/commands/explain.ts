import type { Command } from 'commander';
import { UsageProblem } from '../../errors.js';

interface ExplainFlags {
  out?: string;
  metric?: string;
  series?: string;
  window?: string;
  replicates?: string;
  seed?: string;
  maxCandidates?: string;
  format?: string;
}

/** `mase explain RUN`: which message, deviation or institutional transition before the run's macro change caused it (forks without each). */
export function explainCommand(program: Command): void {
  program
    .command('explain')
    .description(
      "find the run's macro change and rank the messages, deviations from the benchmark action and transitions of the institution on evidence before it by the effect of undoing each (forks of the run)",
    )
    .argument('<run>', 'a run directory')
    .option('--out <dir>', 'where the forks and explain.json go (default: RUN-explain)')
    .option(
      '--metric <name>',
      'the metric compared (default: collusion_index; an environment: its first metric)',
    )
    .option(
      '--series <name>',
      "an environment's per-round value to find the change in (a let or a state)",
    )
    .option(
      '--window <rounds>',
      'rounds before the change whose messages and deviations are candidates (default 5)',
    )
    .option(
      '--replicates <k>',
      "paired continuations per candidate (default 1: the run's own streams)",
    )
    .option('--seed <n>', 'the seed replicates 2..K derive their streams from')
    .option('--max-candidates <n>', 'at most this many candidates, the latest first (default 20)')
    .option('--format <format>', 'text or json', 'text')
    .action(async (run: string, flags: ExplainFlags) => {
      const { wholeNumber } = await import('../../run/flags.js');
      const { explainRun, formatExplanation } = await import('../../sweep/explain.js');
      const { Interruption } = await import('../../run/signals.js');
      if (flags.format !== 'text' && flags.format !== 'json')
        throw new UsageProblem(`--format takes text or json, not \`${flags.format}\``);
      const count = (flag: string, value: string | undefined, fallback: number) =>
        value === undefined ? fallback : wholeNumber(flag, value, 1);
      const request = {
        out: flags.out ?? `${run.replace(/\/+$/, '')}-explain`,
        ...(flags.metric !== undefined ? { metric: flags.metric } : {}),
        ...(flags.series !== undefined ? { series: flags.series } : {}),
        window: count('--window', flags.window, 5),
        replicates: count('--replicates', flags.replicates, 1),
        ...(flags.seed !== undefined ? { seed: wholeNumber('--seed', flags.seed) } : {}),
        maxCandidates: count('--max-candidates', flags.maxCandidates, 20),
      };
      const interruption = new Interruption();
      try {
        const explanation = await explainRun(run, request, { interruption });
        process.stdout.write(
          flags.format === 'json'
            ? `${JSON.stringify(explanation, null, 2)}\n`
            : formatExplanation(explanation),
        );
        const { writeExplainReport } = await import('../../sweep/explain-report.js');
        await writeExplainReport(request.out);
        process.stderr.write(
          `wrote ${request.out} (a fork directory per candidate, explain.json, report.html)\n`,
        );
      } finally {
        interruption.dispose();
      }
    });
}
