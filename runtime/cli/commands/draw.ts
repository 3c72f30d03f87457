import { writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import type { Command } from 'commander';
import type { IrEnvironment, IrInstitution, IrMarket } from '../../../compiler/ir.js';
import { UsageProblem } from '../../errors.js';
import type { SetExitCode } from '../command.js';
import { compiledOrExit, pick } from '../compiled.js';

/** `mase draw FILE -o OUT`: an institution, a market or an environment as SVG, PNG or DOT. */
export function drawCommand(program: Command, setExitCode: SetExitCode): void {
  program
    .command('draw')
    .description('draw an institution, a market or an environment (.svg, .png or .dot)')
    .argument('<file>', 'source file or stdlib:NAME')
    .option('--institution <name>', 'which institution to draw')
    .option('--market <name>', 'which market to draw')
    .option('--environment <name>', 'which environment to draw')
    .requiredOption('-o, --output <file>', 'output file: .svg, .png or .dot')
    .action(
      async (
        file: string,
        options: { institution?: string; market?: string; environment?: string; output: string },
      ) => {
        const format = extname(options.output).slice(1).toLowerCase();
        if (format !== 'svg' && format !== 'png' && format !== 'dot') {
          throw new UsageProblem(
            `cannot tell the format of ${options.output}: use a .svg, .png or .dot file name`,
          );
        }
        const asked = (['institution', 'market', 'environment'] as const).filter(
          (k) => options[k] !== undefined,
        );
        if (asked.length > 1)
          throw new UsageProblem(
            `draw one thing: ${asked.map((k) => `--${k}`).join(' or ')}, not ${asked.length === 2 ? 'both' : 'several'}`,
          );
        const result = await compiledOrExit([file]);
        if (typeof result === 'number') return setExitCode(result);
        const { environmentDot, institutionDot, marketDot } = await import(
          '../../../compiler/backends/dot.js'
        );
        const { program: ir } = result.compilation;
        let dot: string;
        // With no flag: the file's institution, else its market, else its environment.
        const nothingAsked = asked.length === 0 && ir.institutions.length === 0;
        const wantEnvironment =
          options.environment !== undefined ||
          (nothingAsked && ir.markets.length === 0 && ir.environments.length > 0);
        const wantMarket = !wantEnvironment && (options.market !== undefined || nothingAsked);
        if (wantEnvironment) {
          dot = environmentDot(
            pick<IrEnvironment>(ir.environments, options.environment, 'environment', file),
          );
        } else if (wantMarket) {
          const market = pick<IrMarket>(ir.markets, options.market, 'market', file);
          const { firmNames } = await import('../../../compiler/instantiate.js');
          dot = marketDot(market, firmNames(market));
        } else {
          dot = institutionDot(
            pick<IrInstitution>(ir.institutions, options.institution, 'institution', file),
          );
        }
        if (format === 'dot') {
          writeFileSync(options.output, dot);
          process.stderr.write(`wrote ${options.output} (DOT text; no renderer needed)\n`);
          return;
        }
        // A diagram the renderer refuses is a RenderError (exit 2).
        const { renderDot } = await import('../../render/graphviz.js');
        const rendered = await renderDot(dot, format);
        writeFileSync(options.output, rendered.output);
        process.stderr.write(`wrote ${options.output} (renderer: ${rendered.renderer})\n`);
      },
    );
}
