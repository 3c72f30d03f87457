import type { Command } from 'commander';
import { EXIT } from '../../errors.js';
import type { SetExitCode } from '../command.js';
import { degradedReason, runFailure, statusLine } from '../run-ending.js';

/** `mase replay DIR --out OUT`: a finished run again, from its manifest and the response cache. */
export function replayCommand(program: Command, setExitCode: SetExitCode): void {
  program
    .command('replay')
    .description(
      'run a finished run again from its manifest and the response cache, with no network',
    )
    .argument('<dir>', 'a run directory')
    .requiredOption('--out <dir>', 'directory for the replayed run')
    .option('--cache <file>', 'the response cache, when not where the run recorded it')
    .action(async (dir: string, options: { out: string; cache?: string }) => {
      const { replayRun } = await import('../../run/replay.js');
      const { summaryTable } = await import('../../run/summary.js');
      const { Interruption, signalExitCode } = await import('../../run/signals.js');
      const interruption = new Interruption();
      try {
        const artifacts = await replayRun(dir, options.out, {
          ...(options.cache ? { cache: options.cache } : {}),
          interruption,
        });
        process.stdout.write(`${summaryTable([{ label: `replay of ${dir}`, artifacts }])}\n`);
        if (artifacts.status === 'degraded')
          process.stderr.write(`mase: the replay is degraded: ${degradedReason(options.out)}\n`);
        process.stderr.write(`wrote ${options.out} (status: ${statusLine(artifacts)})\n`);
        if (interruption.received) setExitCode(signalExitCode(interruption.received));
        else if (artifacts.status !== 'completed') setExitCode(EXIT.sourceErrors);
      } catch (error) {
        throw await runFailure(error, 'replay');
      } finally {
        interruption.dispose();
      }
    });
}
