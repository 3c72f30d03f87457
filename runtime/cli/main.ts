#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { EXIT, MaseUserError } from '../errors.js';
import { packageRoot } from '../sources.js';
import type { MaseCommand } from './command.js';
import { analyzeCommand } from './commands/analyze.js';
import { checkCommand } from './commands/check.js';
import { compileCommand } from './commands/compile.js';
import { demoCommand } from './commands/demo.js';
import { drawCommand } from './commands/draw.js';
import { exportCommand } from './commands/export.js';
import { fmtCommand } from './commands/fmt.js';
import { manifestCommand } from './commands/manifest.js';
import { modelCommand } from './commands/model.js';
import { replayCommand } from './commands/replay.js';
import { reportCommand } from './commands/report.js';
import { runCommand } from './commands/run.js';
import { showCommand } from './commands/show.js';
import { sweepCommand } from './commands/sweep.js';
import { verifyCommand } from './commands/verify.js';
import { workerCommand } from './commands/worker.js';

/**
 * The commands, one file each under commands/, in the order `mase --help` lists them. Each
 * file loads what its handler needs only when the handler runs, so `mase --help` and
 * `mase check` start without the runtime.
 */
const COMMANDS: readonly MaseCommand[] = [
  checkCommand,
  compileCommand,
  drawCommand,
  manifestCommand,
  fmtCommand,
  runCommand,
  replayCommand,
  verifyCommand,
  reportCommand,
  sweepCommand,
  workerCommand,
  analyzeCommand,
  exportCommand,
  showCommand,
  modelCommand,
  demoCommand,
];

function version(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

export function buildProgram(setExitCode: (code: number) => void): Command {
  const program = new Command();
  program
    .name('mase')
    .description(
      'Institutions and markets for collectives of LLM agents: check, compile, draw and run them.',
    )
    .version(version(), '-V, --version')
    .showHelpAfterError('(run `mase --help` for usage)')
    .exitOverride()
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      writeOut: (s) => process.stdout.write(s),
    });
  for (const add of COMMANDS) add(program, setExitCode);
  return program;
}

/**
 * Runs `mase ARGV` and returns its exit code (runtime/errors.ts `EXIT`). The one place errors
 * become exits: commander's own (usage), a MaseUserError (its message, its code), the
 * machine's (exit 4); anything else is a bug in MASE (exit 3).
 */
export async function main(argv: readonly string[]): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram((c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here with code 0; everything else is a usage error.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof MaseUserError) {
      process.stderr.write(`mase: ${error.message}\n`);
      return error.exitCode;
    }
    const { describeSystemError, isSystemError } = await import('../system-errors.js');
    if (isSystemError(error)) {
      process.stderr.write(`mase: ${describeSystemError(error)}\n`);
      return EXIT.environment;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(
      `mase: internal error E_INTERNAL: ${message}\nThis is a bug in MASE; please report it.\n`,
    );
    if (process.env.MASE_DEBUG && error instanceof Error)
      process.stderr.write(`${error.stack ?? ''}\n`);
    return EXIT.internal;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  () => {
    process.exitCode = EXIT.internal;
  },
);
