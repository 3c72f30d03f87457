import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';

/** `mase report DIR`: report.html for a run, sweep, fork or explanation directory (a directory that is none of them is exit 2). */
export function reportCommand(program: Command): void {
  program
    .command('report')
    .description(
      "write a self-contained report.html: a run's charts, diagram and sanctions, a sweep's regime table, CI plots, phase diagrams and diagrams with edge counts, a fork's arms compared and the effect round by round, or an explanation's ranked causes on the macro series",
    )
    .argument('<dir>', 'a run, sweep, fork or explanation directory')
    .action(async (dir: string) => {
      // An explanation (mase explain) and a fork directory (mase fork) have pages of their own.
      if (existsSync(join(dir, 'explain.json'))) {
        const { writeExplainReport } = await import('../../sweep/explain-report.js');
        process.stderr.write(`wrote ${await writeExplainReport(dir)}\n`);
        return;
      }
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
      const { forkOfRun } = await import('../../run/summary.js');
      const fork = forkOfRun(dir);
      process.stderr.write(`wrote ${await writeRunReport(dir, fork ? { lineage: fork } : {})}\n`);
    });
}
