import {
  compileSources,
  renderDiagnostics,
  type SourceText,
  summary,
} from '../../compiler/index.js';
import type { IrPolicy } from '../../compiler/ir.js';
import { instantiateMarket, MarketError } from '../market/instance.js';
import { stdlibSources } from '../sources.js';
import { parseParam, ResolveError, resolveExperiment } from './resolve.js';
import type { ResolvedExperiment } from './run.js';

export interface RunOptions {
  experiment?: string;
  market?: string;
  institution?: string;
  agents?: string;
  param?: string[];
  rounds?: string;
  seed?: string;
  continuation?: string;
  horizon?: string;
}

class UsageProblem extends Error {}

const isFileSpec = (spec: string) =>
  spec.startsWith('stdlib:') || spec.endsWith('.mase') || spec.includes('/');
const nameOf = (spec: string) => (spec.startsWith('stdlib:') ? spec.slice('stdlib:'.length) : spec);

/** Policies from `--agents`, read with the language's own `agents` syntax. */
function policyParser(spec: string): { all?: IrPolicy; perFirm: Record<string, IrPolicy> } {
  const text = `mase 1\nexperiment cli { market cournot agents ${spec} }\n`;
  const compiled = compileSources([{ path: '--agents', text }], stdlibSources());
  const syntax = compiled.diagnostics.filter(
    (d) => d.code === 'E_SYNTAX' || d.code === 'E_LEX' || d.code === 'E_TYPE',
  );
  const experiment = compiled.program.experiments[0];
  if (syntax.length > 0 || !experiment) {
    throw new ResolveError(
      `--agents ${JSON.stringify(spec)} is not a policy list: ${syntax[0]?.message ?? 'unreadable'}`,
    );
  }
  return {
    ...(experiment.agents.all ? { all: experiment.agents.all } : {}),
    perFirm: { ...experiment.agents.perFirm },
  };
}

function integer(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n))
    throw new UsageProblem(`${flag} takes a whole number, not \`${value}\``);
  return n;
}

function probability(value: string): number {
  const p = Number(value);
  if (!(p > 0 && p < 1))
    throw new UsageProblem(
      `--continuation takes a probability strictly between 0 and 1, not \`${value}\``,
    );
  return p;
}

function horizonFlag(value: string): boolean {
  if (value === 'known') return true;
  if (value === 'unknown') return false;
  throw new UsageProblem(`--horizon takes \`known\` or \`unknown\`, not \`${value}\``);
}

/**
 * From `mase run` flags to one resolved experiment, or an exit code with the reason
 * already printed (1: errors in the sources, 2: bad flags).
 */
export async function prepareRun(
  file: string | undefined,
  options: RunOptions,
  load: (specs: readonly string[]) => SourceText[],
): Promise<{ experiment: ResolvedExperiment } | { exitCode: number }> {
  try {
    const specs = [
      ...(file ? [file] : []),
      ...[options.market, options.institution].filter(
        (s): s is string => s !== undefined && s !== 'none' && isFileSpec(s),
      ),
    ];
    if (specs.length === 0 && !options.market)
      throw new UsageProblem('give an experiment file, or --market');
    const sources = load([...new Set(specs)]);
    const compiled = compileSources(sources, stdlibSources(), { includeLibrary: true });
    if (!compiled.ok) {
      const texts = new Map([...stdlibSources(), ...sources].map((s) => [s.path, s.text]));
      const errors = compiled.diagnostics.filter((d) => d.severity === 'error');
      process.stderr.write(`${renderDiagnostics(errors, texts)}\n\n${summary(errors)}\n`);
      return { exitCode: 1 };
    }
    const experiment = resolveExperiment(
      compiled.program,
      {
        ...(options.experiment ? { experiment: options.experiment } : {}),
        ...(options.market ? { market: nameOf(options.market) } : {}),
        ...(options.institution ? { institution: nameOf(options.institution) } : {}),
        ...(options.agents ? { agents: options.agents } : {}),
        params: (options.param ?? []).map(parseParam),
        ...(options.rounds !== undefined
          ? { rounds: integer('--rounds', options.rounds) as number }
          : {}),
        ...(options.seed !== undefined ? { seed: integer('--seed', options.seed) as number } : {}),
        ...(options.continuation !== undefined
          ? { continuation: probability(options.continuation) }
          : {}),
        ...(options.horizon !== undefined ? { horizonKnown: horizonFlag(options.horizon) } : {}),
      },
      policyParser,
      [...sources, ...stdlibSources()],
    );
    // Lists must fit the firms the overrides imply; say so before anything is written.
    instantiateMarket(experiment.market, experiment.marketOverrides);
    return { experiment };
  } catch (error) {
    if (
      error instanceof ResolveError ||
      error instanceof UsageProblem ||
      error instanceof MarketError
    ) {
      process.stderr.write(`mase: ${error.message}\n`);
      return { exitCode: 2 };
    }
    throw error;
  }
}
