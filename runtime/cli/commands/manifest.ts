import type { Command } from 'commander';
import type { SetExitCode } from '../command.js';
import { institutionOrExit } from '../compiled.js';

/** `mase manifest FILE`: the public manifest agents read. */
export function manifestCommand(program: Command, setExitCode: SetExitCode): void {
  program
    .command('manifest')
    .description('print the public manifest agents read')
    .argument('<file>', 'source file or stdlib:NAME')
    .option('--institution <name>', 'which institution, when the file declares several')
    .action(async (file: string, options: { institution?: string }) => {
      const institution = await institutionOrExit(file, options.institution);
      if (typeof institution === 'number') return setExitCode(institution);
      const { manifestText } = await import('../../../compiler/backends/manifest.js');
      process.stdout.write(manifestText(institution));
    });
}
