import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect } from 'vitest';
import { type TraceLine, traceEvents } from './trace-events.js';

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

/**
 * `mase run --market stdlib:cournot --institution INSTITUTION --agents AGENTS --rounds
 * ROUNDS` and MORE flags (no `--out`): the market most CLI tests run.
 */
export const cournotRun = (
  agents: string,
  rounds: number,
  institution = 'none',
  ...more: string[]
): string[] => [
  'run',
  '--market',
  'stdlib:cournot',
  '--institution',
  institution,
  '--agents',
  agents,
  '--rounds',
  `${rounds}`,
  ...more,
];

/** The line commander adds after its own errors; the message itself is the line before. */
export const HELP_HINT = '(run `mase --help` for usage)';

/** The lines of stderr that are the CLI's own message (commander's help hint left out). */
export const messageLines = (stderr: string): string[] =>
  stderr
    .trimEnd()
    .split('\n')
    .filter((l) => l !== HELP_HINT);

/** What one run in a sandbox may change: the working directory, variables, node's flags. */
export type SandboxRun = Partial<CliOptions>;

/**
 * One test file's scratch directory and the `mase` it runs there: made when the file is
 * loaded, checked to have a built CLI before its tests, removed after them. Every run gets
 * its own MASE_HOME in the sandbox and no log key or API key from the shell, so nothing a
 * test does reads or writes the user's settings, cache or keys.
 */
export interface CliSandbox {
  /** The directory, also every run's working directory unless the run names another. */
  readonly dir: string;
  /** The path of `name` in the sandbox (an absolute name is itself). */
  file(name: string): string;
  /** The text of file `name`. */
  read(name: string): string;
  /** File `name` parsed as JSON. */
  json<T = Record<string, unknown>>(name: string): T;
  /** Writes `text` to `name` (making its folders); its path. */
  write(name: string, text: string | Uint8Array): string;
  /** The events of run directory `out`. */
  events<E extends { type: string } = TraceLine>(out: string): E[];
  /** Runs `mase ARGS` in the sandbox to the end (a string is split on spaces). */
  mase(command: string | readonly string[], run?: SandboxRun): CliResult;
  /** The same without blocking this process, for a scripted model server in the test. */
  maseAsync(
    args: readonly string[],
    run?: SandboxRun,
    started?: (child: ChildProcess) => void,
  ): Promise<CliResult>;
  /**
   * Replays run `out` from its response cache into `out-replay` and checks the replay is the
   * run: the same messages, paraphrases, decisions and model answers in the same order, and a
   * byte-identical metrics.json. Returns what the run said, for the caller's own checks.
   */
  expectExactReplay(out: string): Said[];
  /** Runs `mase COMMAND` (whose `--out` is `out`), checks it succeeded, then `expectExactReplay(out)`. */
  expectReplayedRun(command: string, out: string): Said[];
}

/**
 * What a run said and did, in order: its message, message_paraphrased and decision events,
 * and each llm_call as the answer it got (a replay's calls differ in timing and cache marks).
 */
export type Said = TraceLine | { readonly answer: unknown };

const SAID = new Set(['message', 'message_paraphrased', 'decision']);

const said = (events: readonly TraceLine[]): Said[] =>
  events.flatMap<Said>((e) =>
    e.type === 'llm_call' ? [{ answer: e.response }] : SAID.has(e.type) ? [e] : [],
  );

/** A sandbox named `mase-NAME-…` under the system's temporary directory. */
export function cliSandbox(name: string): CliSandbox {
  // Made now, not in a hook: a test file may write its sources while it is collected.
  const dir = mkdtempSync(join(tmpdir(), `mase-${name}-`));
  beforeAll(() => {
    expect(
      existsSync(cliPath),
      `${cliPath} is missing: run \`npm run build\` (npm test does)`,
    ).toBe(true);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const options = (run: SandboxRun = {}): CliOptions => ({
    ...run,
    cwd: run.cwd ?? dir,
    env: { MASE_HOME: join(dir, 'home'), MASE_LOG_KEY: undefined, OPENAI_API_KEY: '', ...run.env },
  });
  const file = (name: string) => resolve(dir, name);
  const read = (name: string) => readFileSync(file(name), 'utf8');
  const mase = (command: string | readonly string[], run?: SandboxRun) =>
    runCli(command, options(run));
  const expectExactReplay = (out: string): Said[] => {
    const replay = mase(['replay', out, '--out', `${out}-replay`]);
    expect(replay.code, replay.stderr).toBe(0);
    const run = said(traceEvents(dir, out));
    expect(said(traceEvents(dir, `${out}-replay`))).toEqual(run);
    expect(read(`${out}-replay/metrics.json`)).toBe(read(`${out}/metrics.json`));
    return run;
  };
  return {
    dir,
    file,
    read,
    json: <T = Record<string, unknown>>(name: string) => JSON.parse(read(name)) as T,
    write(name, text) {
      mkdirSync(dirname(file(name)), { recursive: true });
      writeFileSync(file(name), text);
      return file(name);
    },
    events: <E extends { type: string } = TraceLine>(out: string) =>
      traceEvents(dir, out) as unknown as E[],
    mase,
    maseAsync: (args, run, started) => runCliAsync(args, options(run), started),
    expectExactReplay,
    expectReplayedRun(command, out) {
      const run = mase(command);
      expect(run.code, run.stderr).toBe(0);
      return expectExactReplay(out);
    },
  };
}
