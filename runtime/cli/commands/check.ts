import { type Command, Option } from 'commander';
import type { SetExitCode } from '../command.js';
import { compile, reportDiagnostics } from '../compiled.js';

/** `mase check FILES…`: the diagnostics of the sources (exit 0 without errors, 1 with). */
export function checkCommand(program: Command, setExitCode: SetExitCode): void {
  program
    .command('check')
    .description('check sources and report diagnostics (exit 0: no errors, 1: errors)')
    .argument('<files...>', 'source files or stdlib:NAME')
    .addOption(
      new Option('--format <format>', 'diagnostics format')
        .choices(['text', 'json'])
        .default('text'),
    )
    .action(async (files: string[], options: { format: 'text' | 'json' }) => {
      const { compilation, sources } = await compile(files);
      setExitCode(reportDiagnostics(compilation, sources, options.format));
    });
}
