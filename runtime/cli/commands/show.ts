import type { Command } from 'commander';
import { UsageProblem } from '../../errors.js';

/**
 * `mase show DIR`: a run's summary, and with --timeline its transitions; with --message ID
 * one message's lineage (a bad directory, range or id is exit 2).
 */
export function showCommand(program: Command): void {
  program
    .command('show')
    .description(
      'summarise a run: benchmarks, outcome, tier, the institution (time in each state, transitions per edge, sanctions); --timeline adds every transition; --message ID follows one message back to its origins',
    )
    // Optional so that `show --timeline DIR`, where the flag's optional value swallows the
    // directory, can be read as the user meant it.
    .argument('[dir]', 'a run directory')
    .option(
      '--timeline [rounds]',
      'also list the transitions one by one: every one, or those of rounds N or FROM-TO',
    )
    .option(
      '--message <id>',
      'instead, follow one message (an id such as m3.1.2, as in events.jsonl) back to its origins: each ancestor, origin first',
    )
    .action(
      async (
        given: string | undefined,
        flags: { timeline?: string | boolean; message?: string },
      ) => {
        const { parseTimelineRange, showMessage, showRun } = await import('../../run/summary.js');
        const swallowed = given === undefined && typeof flags.timeline === 'string';
        const dir = swallowed ? (flags.timeline as string) : given;
        if (dir === undefined) throw new UsageProblem('show needs a run directory: mase show DIR');
        if (flags.message !== undefined) {
          if (flags.timeline !== undefined)
            throw new UsageProblem('show takes --timeline or --message, not both');
          process.stdout.write(await showMessage(dir, flags.message));
          return;
        }
        const timeline = parseTimelineRange(swallowed ? true : flags.timeline);
        process.stdout.write(await showRun(dir, timeline ? { timeline } : {}));
      },
    );
}
