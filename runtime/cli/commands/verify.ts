import type { Command } from 'commander';
import { EXIT } from '../../errors.js';
import type { SetExitCode } from '../command.js';

/** `mase verify DIR`: whether a run's governance log is intact (exit 0) or where it is not (exit 1). */
export function verifyCommand(program: Command, setExitCode: SetExitCode): void {
  program
    .command('verify')
    .description("check that a run's governance log is intact (exit 0) or name the first bad entry")
    .argument('<dir>', 'a run directory')
    .option('--key-file <file>', 'the log key, when it is not MASE_LOG_KEY or stored for the run')
    .action(async (dir: string, options: { keyFile?: string }) => {
      const { verifyRunDirectory } = await import('../../trace/governance-log.js');
      const verdict = verifyRunDirectory(dir, options.keyFile);
      (verdict.ok ? process.stdout : process.stderr).write(`${verdict.message}\n`);
      setExitCode(verdict.ok ? EXIT.ok : EXIT.sourceErrors);
    });
}
