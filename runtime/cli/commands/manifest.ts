import type { Command } from 'commander';
import type { IrInstitution } from '../../../compiler/ir.js';
import type { SetExitCode } from '../command.js';
import { compiledOrExit, pick } from '../compiled.js';

/** `mase manifest FILE`: the public manifest agents read. */
export function manifestCommand(program: Command, setExitCode: SetExitCode): void {
  program
    .command('manifest')
    .description('print the public manifest agents read')
    .argument('<file>', 'source file or stdlib:NAME')
    .option('--institution <name>', 'which institution, when the file declares several')
    .action(async (file: string, options: { institution?: string }) => {
      const result = await compiledOrExit([file]);
      if (typeof result === 'number') return setExitCode(result);
      const institution = pick<IrInstitution>(
        result.compilation.program.institutions,
        options.institution,
        'institution',
        file,
      );
      const { manifestText } = await import('../../../compiler/backends/manifest.js');
      process.stdout.write(manifestText(institution));
    });
}
