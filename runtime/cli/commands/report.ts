import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';

/** `mase report DIR`: report.html for a run or a sweep directory (a directory that is neither is exit 2). */
export function reportCommand(program: Command): void {
  program
    .command('report')
    .description(
      "write a self-contained report.html: a run's charts, diagram and sanctions, or a sweep's regime table, CI plots, phase diagrams and diagrams with edge counts",
    )
    .argument('<dir>', 'a run directory or a sweep directory')
    .action(async (dir: string) => {
      if (existsSync(join(dir, 'sweep.json'))) {
        const { writeSweepReport } = await import('../../sweep/report.js');
        process.stderr.write(`wrote ${await writeSweepReport(dir)}\n`);
        return;
      }
      const { writeRunReport } = await import('../../report/run-report.js');
      process.stderr.write(`wrote ${await writeRunReport(dir)}\n`);
    });
}
