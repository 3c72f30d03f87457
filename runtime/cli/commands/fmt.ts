import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { renderDiagnostics } from '../../../compiler/render-diagnostics.js';
import { EXIT, UsageProblem } from '../../errors.js';
import { loadSource } from '../../sources.js';
import type { SetExitCode } from '../command.js';

/** `mase fmt FILE`: the file formatted canonically (printed, rewritten with --write, or checked). */
export function fmtCommand(program: Command, setExitCode: SetExitCode): void {
  program
    .command('fmt')
    .description('format a source file canonically (comments kept)')
    .argument('<file>', 'source file')
    .option('--write', 'rewrite the file in place instead of printing')
    .option('--check', 'exit 1 if the file is not formatted, changing nothing')
    .action(async (file: string, options: { write?: boolean; check?: boolean }) => {
      if (file.startsWith('stdlib:'))
        throw new UsageProblem('fmt works on files; stdlib entries are formatted already');
      // Only the named file is formatted; its imports stay as written, and are not read.
      const source = loadSource(file);
      const { parse } = await import('../../../grammar/index.js');
      const parsed = parse(source.path, source.text);
      const syntax = parsed.diagnostics.filter((d) => d.severity === 'error');
      if (syntax.length > 0) {
        process.stderr.write(
          `${renderDiagnostics(syntax, new Map([[source.path, source.text]]))}\n\nnot formatted: fix the errors first\n`,
        );
        return setExitCode(EXIT.sourceErrors);
      }
      const { formatSource } = await import('../../../compiler/backends/format.js');
      const formatted = formatSource(parsed.value);
      if (options.check) {
        if (formatted !== source.text) {
          process.stderr.write(`${source.path} is not formatted\n`);
          return setExitCode(EXIT.sourceErrors);
        }
        return;
      }
      if (options.write) {
        if (formatted !== source.text) writeFileSync(file, formatted);
        process.stderr.write(
          `${formatted === source.text ? 'unchanged' : 'formatted'} ${source.path}\n`,
        );
      } else process.stdout.write(formatted);
    });
}
