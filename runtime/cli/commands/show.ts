import type { Command } from 'commander';
import { UsageProblem } from '../../errors.js';

/** `mase show DIR`: a run's summary, and with --timeline its transitions (a bad directory or range is exit 2). */
export function showCommand(program: Command): void {
  program
    .command('show')
    .description(
      'summarise a run: benchmarks, outcome, tier, the institution (time in each state, transitions per edge, sanctions); --timeline adds every transition',
    )
    // Optional so that `show --timeline DIR`, where the flag's optional value swallows the
    // directory, can be read as the user meant it.
    .argument('[dir]', 'a run directory')
    .option(
      '--timeline [rounds]',
      'also list the transitions one by one: every one, or those of rounds N or FROM-TO',
    )
    .action(async (given: string | undefined, flags: { timeline?: string | boolean }) => {
      const { parseTimelineRange, showRun } = await import('../../run/summary.js');
      const swallowed = given === undefined && typeof flags.timeline === 'string';
      const dir = swallowed ? (flags.timeline as string) : given;
      if (dir === undefined) throw new UsageProblem('show needs a run directory: mase show DIR');
      const timeline = parseTimelineRange(swallowed ? true : flags.timeline);
      process.stdout.write(await showRun(dir, timeline ? { timeline } : {}));
    });
}
