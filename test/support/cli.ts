import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

/**
 * Running the built `mase` CLI in tests, as a user meets it (`npm test` builds `dist/`
 * first). Every invocation is checked for JavaScript stack traces, which no input may ever
 * produce; the debug switch that prints them on purpose is cleared.
 */

export const cliPath = join(
  dirname(fileURLToPath(import.meta.url)),
  '../../dist/runtime/cli/main.js',
);

/** A stack frame as Node prints it: `    at fn (file:line:col)` or `    at file:line:col`. */
export const STACK_LINE = /^ {4}at |^\s+at .*:\d+:\d+\)?$/m;

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  /** The working directory. */
  readonly cwd: string;
  /** Variables to set; `undefined` removes one from the inherited environment. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly nodeArgs?: readonly string[];
  /** Kill the CLI after this long: a guard for inputs that once made it hang, not a timing check. */
  readonly killAfterMs?: number;
}

function environment(env: CliOptions['env']): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete merged.MASE_DEBUG;
  for (const [k, v] of Object.entries(env ?? {})) if (v === undefined) delete merged[k];
  return merged;
}

function checked(args: readonly string[], result: CliResult): CliResult {
  expect(result.stdout, `stdout of mase ${args.join(' ')}`).not.toMatch(STACK_LINE);
  expect(result.stderr, `stderr of mase ${args.join(' ')}`).not.toMatch(STACK_LINE);
  return result;
}

/** Runs `mase ARGS` to the end (a string is split on spaces). */
export function runCli(command: string | readonly string[], options: CliOptions): CliResult {
  const args = typeof command === 'string' ? command.split(' ').filter(Boolean) : command;
  const run = spawnSync(process.execPath, [...(options.nodeArgs ?? []), cliPath, ...args], {
    cwd: options.cwd,
    encoding: 'utf8',
    env: environment(options.env),
    ...(options.killAfterMs === undefined ? {} : { timeout: options.killAfterMs }),
  });
  return checked(args, { code: run.status, stdout: run.stdout, stderr: run.stderr });
}

/**
 * The same without blocking this process (a server in the test must answer the CLI);
 * `started` gets the process, to signal it while it runs.
 */
export function runCliAsync(
  args: readonly string[],
  options: CliOptions,
  started?: (child: ChildProcess) => void,
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), cliPath, ...args], {
      cwd: options.cwd,
      env: environment(options.env),
    });
    started?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('close', (code) => resolve(checked(args, { code, stdout, stderr })));
  });
}

/** The line commander adds after its own errors; the message itself is the line before. */
export const HELP_HINT = '(run `mase --help` for usage)';

/** The lines of stderr that are the CLI's own message (commander's help hint left out). */
export const messageLines = (stderr: string): string[] =>
  stderr
    .trimEnd()
    .split('\n')
    .filter((l) => l !== HELP_HINT);
