import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';

/** `mase report DIR`: report.html for a run, sweep or fork directory (a directory that is none of them is exit 2). */
export function reportCommand(program: Command): void {
  program
    .command('report')
    .description(
      "write a self-contained report.html: a run's charts, diagram and sanctions, a sweep's regime table, CI plots, phase diagrams and diagrams with edge counts, or a fork's arms compared and the effect round by round",
    )
    .argument('<dir>', 'a run, sweep or fork directory')
    .action(async (dir: string) => {
      // A fork directory (mase fork) is laid out as a sweep's, with a page of its own.
      if (existsSync(join(dir, 'fork.json'))) {
        const { writeForkReport } = await import('../../sweep/fork-report.js');
        process.stderr.write(`wrote ${await writeForkReport(dir)}\n`);
        return;
      }
      if (existsSync(join(dir, 'sweep.json'))) {
        const { writeSweepReport } = await import('../../sweep/report.js');
        process.stderr.write(`wrote ${await writeSweepReport(dir)}\n`);
        return;
      }
      const { writeRunReport } = await import('../../report/run-report.js');
      process.stderr.write(`wrote ${await writeRunReport(dir)}\n`);
    });
}
