import { type Command, Option } from 'commander';
import type { SetExitCode } from '../command.js';
import { institutionOrExit, writeOutput } from '../compiled.js';

/** `mase compile FILE`: an institution as an XState v5 machine (JSON or a TypeScript module). */
export function compileCommand(program: Command, setExitCode: SetExitCode): void {
  program
    .command('compile')
    .description('compile an institution to an XState v5 machine')
    .argument('<file>', 'source file or stdlib:NAME')
    .option('--institution <name>', 'which institution, when the file declares several')
    .addOption(
      new Option('--format <format>', 'output format')
        .choices(['xstate-json', 'ts'])
        .default('xstate-json'),
    )
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .action(
      async (
        file: string,
        options: { institution?: string; format: 'xstate-json' | 'ts'; output?: string },
      ) => {
        const institution = await institutionOrExit(file, options.institution);
        if (typeof institution === 'number') return setExitCode(institution);
        const { machineConfig, machineModule } = await import(
          '../../../compiler/backends/xstate.js'
        );
        const text =
          options.format === 'ts'
            ? machineModule(institution)
            : `${JSON.stringify(machineConfig(institution), null, 2)}\n`;
        writeOutput(text, options.output);
      },
    );
}
