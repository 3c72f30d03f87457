import type { Command } from 'commander';
import { EXIT } from '../../errors.js';
import type { SetExitCode } from '../command.js';

interface ForkFlags {
  at: string;
  out: string;
  replicates?: string;
  seed?: string;
  agents?: string;
  dropMessage?: string[];
  replaceMessage?: string[];
  injectMessage?: string[];
  resetMemory?: string;
  muteEdge?: string[];
  benchmarkAction?: string[];
  pardon?: string[];
  param?: string[];
  institution?: string;
  intervention?: string[];
}

/** `mase fork RUN --at R --out NEW`: the run continued from R + 1, with and without an intervention. */
export function forkCommand(program: Command, setExitCode: SetExitCode): void {
  const collect = (value: string, previous: string[] = []) => [...previous, value];
  program
    .command('fork')
    .description(
      'continue a run from a round under an intervention, in replicates each paired with a continuation without it (a sweep directory: mase analyze NEW)',
    )
    .argument('<run>', 'a run directory')
    .requiredOption(
      '--at <round>',
      'the last round kept as it was; the intervention applies from the next',
    )
    .requiredOption(
      '--out <dir>',
      'the fork directory (runs/, records/, results.duckdb, fork.json)',
    )
    .option('--replicates <k>', "continuations per arm (default 1: the run's own random streams)")
    .option('--seed <n>', "the seed replicates 2..K derive their streams from (default: the run's)")
    .option(
      '--agents <policies>',
      'replace policies from the next round: POLICY for every agent, or a1=POLICY,…',
    )
    .option(
      '--drop-message <id>',
      'do not deliver this message (its id in the trace, e.g. m5.1.2; repeatable)',
      collect,
    )
    .option(
      '--replace-message <ID:TEXT>',
      'deliver this message (its id in the trace) as TEXT instead of its words (repeatable)',
      collect,
    )
    .option(
      '--inject-message <FROM->TO:TEXT>',
      "deliver a message in the fork's first round, before anyone talks (FROM an agent or world; TO agents separated by commas, or *; repeatable)",
      collect,
    )
    .option(
      '--reset-memory <agents>',
      'build these agents (separated by commas) again from their own policies: no memory, Q-table or learned state',
    )
    .option(
      '--benchmark-action <AGENT@ROUND>',
      "in that round the agent plays the world's benchmark (a market's Nash action) instead of its choice (repeatable)",
      collect,
    )
    .option(
      '--param <NAME=VALUE>',
      'a parameter of the world or of the institution takes VALUE from the next round on, each going on from its state (repeatable)',
      collect,
    )
    .option(
      '--pardon <AGENT@ROUND>',
      "in that round the institution disregards the evidence against the agent: none of its machine's `when` transitions holds (repeatable)",
      collect,
    )
    .option(
      '--mute-edge <A-B|A>B>',
      'deliver no message from A to B (A>B) or either way (A-B) from the next round on (repeatable)',
      collect,
    )
    .option(
      '--institution <FILE|stdlib:NAME|none>',
      'govern by this institution from the next round on, every agent in its initial state (none: ungoverned)',
    )
    .option(
      '--intervention <FILE[:NAME]>',
      "an arm of its own for an intervention declared in FILE (the file's only one, or NAME; repeatable: one arm each)",
      collect,
    )
    .action(async (run: string, flags: ForkFlags) => {
      const { wholeNumber } = await import('../../run/flags.js');
      const { forkRun } = await import('../../sweep/fork.js');
      const { Interruption, signalExitCode } = await import('../../run/signals.js');
      const at = wholeNumber('--at', flags.at);
      const replicates =
        flags.replicates === undefined ? 1 : wholeNumber('--replicates', flags.replicates, 1);
      const seed = flags.seed === undefined ? undefined : wholeNumber('--seed', flags.seed);
      const interruption = new Interruption();
      try {
        const outcome = await forkRun(
          run,
          {
            at,
            out: flags.out,
            replicates,
            ...(seed !== undefined ? { seed } : {}),
            ...(flags.agents !== undefined ? { agents: flags.agents } : {}),
            dropMessages: flags.dropMessage ?? [],
            ...(flags.replaceMessage ? { replaceMessages: flags.replaceMessage } : {}),
            injectMessages: flags.injectMessage ?? [],
            ...(flags.resetMemory !== undefined
              ? { resetAgents: flags.resetMemory.split(',').map((a) => a.trim()) }
              : {}),
            ...(flags.muteEdge ? { muteEdges: flags.muteEdge } : {}),
            ...(flags.benchmarkAction ? { benchmarkActions: flags.benchmarkAction } : {}),
            ...(flags.pardon ? { pardons: flags.pardon } : {}),
            ...(flags.param ? { params: flags.param } : {}),
            ...(flags.institution !== undefined ? { institution: flags.institution } : {}),
            ...(flags.intervention ? { interventions: flags.intervention } : {}),
          },
          { interruption },
        );
        const failed = outcome.records.filter((r) => r.status !== 'completed').length;
        process.stdout.write(
          `fork of ${run} after round ${at}: ${outcome.label === 'none' ? 'no intervention' : outcome.label}; ${outcome.records.length} run${outcome.records.length === 1 ? '' : 's'} (${failed} not completed)\n`,
        );
        process.stderr.write(`wrote ${flags.out} (mase analyze ${flags.out} compares the arms)\n`);
        if (interruption.received) setExitCode(signalExitCode(interruption.received));
        else if (failed > 0) setExitCode(EXIT.sourceErrors);
      } finally {
        interruption.dispose();
      }
    });
}
