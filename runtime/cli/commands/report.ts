import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { UsageProblem } from '../../errors.js';

/** `mase report DIR`: report.html for a run or a sweep directory (a directory that is neither is exit 2). */
export function reportCommand(program: Command): void {
  program
    .command('report')
    .description(
      "write a self-contained report.html: a run's charts, diagram and sanctions, or a sweep's regime table, CI plots, phase diagrams and diagrams with edge counts",
    )
    .argument('<dir>', 'a run directory or a sweep directory')
    .action(async (dir: string) => {
      if (existsSync(join(dir, 'fork.json')))
        throw new UsageProblem(
          `${dir} is a fork directory (mase fork): it has no report page of its own; each of its runs has one (${join(dir, 'runs', '*', 'report.html')}), and \`mase analyze ${dir}\` compares its arms`,
        );
      if (existsSync(join(dir, 'sweep.json'))) {
        const { writeSweepReport } = await import('../../sweep/report.js');
        process.stderr.write(`wrote ${await writeSweepReport(dir)}\n`);
        return;
      }
      const { writeRunReport } = await import('../../report/run-report.js');
      process.stderr.write(`wrote ${await writeRunReport(dir)}\n`);
    });
}
