#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { EXIT, MaseUserError } from '../errors.js';
import { packageRoot } from '../sources.js';
import type { MaseCommand } from './command.js';

/**
 * The commands, one file each under commands/, in the order `mase --help` lists them. A
 * command's file loads only when it is needed, and each file imports what its handler needs
 * only when the handler runs, so `mase --help` and `mase check` start without the runtime.
 */
const COMMANDS: Readonly<Record<string, () => Promise<MaseCommand>>> = {
  check: () => import('./commands/check.js').then((m) => m.checkCommand),
  compile: () => import('./commands/compile.js').then((m) => m.compileCommand),
  draw: () => import('./commands/draw.js').then((m) => m.drawCommand),
  manifest: () => import('./commands/manifest.js').then((m) => m.manifestCommand),
  fmt: () => import('./commands/fmt.js').then((m) => m.fmtCommand),
  run: () => import('./commands/run.js').then((m) => m.runCommand),
  replay: () => import('./commands/replay.js').then((m) => m.replayCommand),
  fork: () => import('./commands/fork.js').then((m) => m.forkCommand),
  explain: () => import('./commands/explain.js').then((m) => m.explainCommand),
  verify: () => import('./commands/verify.js').then((m) => m.verifyCommand),
  report: () => import('./commands/report.js').then((m) => m.reportCommand),
  sweep: () => import('./commands/sweep.js').then((m) => m.sweepCommand),
  worker: () => import('./commands/worker.js').then((m) => m.workerCommand),
  analyze: () => import('./commands/analyze.js').then((m) => m.analyzeCommand),
  export: () => import('./commands/export.js').then((m) => m.exportCommand),
  show: () => import('./commands/show.js').then((m) => m.showCommand),
  model: () => import('./commands/model.js').then((m) => m.modelCommand),
  demo: () => import('./commands/demo.js').then((m) => m.demoCommand),
};

/** What `argv` needs: the command it starts with, or all of them (help, --version, a typo). */
function commandsFor(argv: readonly string[]): Promise<MaseCommand[]> {
  // `mase --kind FOLDER run …`: the command is the first word after the global options.
  let at = 0;
  while (argv[at] === '--kind') at += 2;
  while (argv[at]?.startsWith('--kind=')) at += 1;
  const first = argv[at];
  const load =
    first !== undefined && Object.hasOwn(COMMANDS, first)
      ? [COMMANDS[first] as () => Promise<MaseCommand>]
      : Object.values(COMMANDS);
  return Promise.all(load.map((command) => command()));
}

function version(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

export async function buildProgram(
  argv: readonly string[],
  setExitCode: (code: number) => void,
): Promise<Command> {
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
    })
    .option(
      '--kind <folder>',
      'register the environment kind written in code in FOLDER (its index.js and .mase files; repeatable; runs its code: use folders you trust)',
      (folder: string, previous: string[]) => [...previous, folder],
      [] as string[],
    )
    .hook('preAction', async () => {
      const folders = program.opts<{ kind: string[] }>().kind;
      if (folders.length === 0) return;
      const { registerKindFolders } = await import('../environment/kinds.js');
      await registerKindFolders(folders);
    });
  for (const add of await commandsFor(argv)) add(program, setExitCode);
  return program;
}

/**
 * Runs `mase ARGV` and returns its exit code (runtime/errors.ts `EXIT`). The one place errors
 * become exits: commander's own (usage), a MaseUserError (its message, its code), the
 * machine's (exit 4); anything else is a bug in MASE (exit 3).
 */
export async function main(argv: readonly string[]): Promise<number> {
  let code: number = EXIT.ok;
  try {
    const program = await buildProgram(argv, (c) => {
      code = c;
    });
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
