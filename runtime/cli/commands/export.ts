import { type Command, Option } from 'commander';
// Types only: the exporter (and the sweep machinery it reads with) loads when the command runs.
import type { SftTurns } from '../../sweep/export.js';

const TURNS: readonly SftTurns[] = ['decisions', 'talk', 'all'];

/** `mase export sft DIR --out FILE`: a sweep's LLM decisions as fine-tuning records. */
export function exportCommand(program: Command): void {
  const exporter = program.command('export').description('export a sweep for other tools');
  exporter
    .command('sft')
    .description(
      "the LLM agents' decisions (or talk turns) as chat-format fine-tuning records, filtered by SQL over the results",
    )
    .argument('<dir>', 'a sweep directory')
    .requiredOption('--out <file>', 'the JSONL file to write (a dataset card goes next to it)')
    .option('--where <sql>', 'which runs, e.g. "regime = \'governance_graph\' AND tier <= 1"')
    .option('--force', 'overwrite --out (and its card) if they exist')
    .addOption(
      new Option('--turns <which>', 'which answers: decisions, talk turns (text worlds), or all')
        .choices(TURNS)
        .default('decisions'),
    )
    .action(
      async (
        dir: string,
        flags: { out: string; where?: string; force?: boolean; turns: SftTurns },
      ) => {
        const { exportSft } = await import('../../sweep/export.js');
        const card = await exportSft(dir, flags.out, {
          ...(flags.where !== undefined ? { where: flags.where } : {}),
          force: flags.force === true,
          turns: flags.turns,
        });
        process.stderr.write(
          `wrote ${card.records} records from ${card.runs} runs to ${flags.out} (card: ${card.path})\n`,
        );
      },
    );
}
