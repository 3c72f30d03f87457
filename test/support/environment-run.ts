import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import {
  compileSources,
  type IrEnvironment,
  type IrPolicy,
  type ParamValue,
} from '../../compiler/index.js';
import {
  computeEnvironmentMetrics,
  type EnvironmentMetrics,
  resolveExperiment,
  runExperiment,
  runToDirectory,
  stdlibSources,
  type TraceEvent,
} from '../../runtime/index.js';

export interface EnvironmentRun {
  readonly dir: string;
  readonly events: string;
  readonly metrics: EnvironmentMetrics;
}

/**
 * Runs stdlib environments into run directories under one scratch directory (removed after
 * the file's tests; log keys under a private MASE_HOME). `policies` is one policy for every
 * agent or one per agent by name.
 */
export function environmentRunner(prefix: string) {
  const root = mkdtempSync(join(tmpdir(), `mase-${prefix}-`));
  process.env.MASE_HOME = join(root, 'home');
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const program = compileSources([], stdlibSources(), { includeLibrary: true }).program;
  let runs = 0;
  return async (
    environment: string,
    policies: IrPolicy | Readonly<Record<string, IrPolicy>>,
    options: {
      rounds: number;
      seed?: number;
      institution?: string;
      params?: Readonly<Record<string, ParamValue>>;
      name?: string;
    },
  ): Promise<EnvironmentRun> => {
    const experiment = resolveExperiment(
      program,
      {
        environment,
        ...(options.institution ? { institution: options.institution } : {}),
        agents: 'given',
        params: Object.entries(options.params ?? {}).map(([name, value]) => ({ name, value })),
        rounds: options.rounds,
        seed: options.seed ?? 1,
      },
      () =>
        'name' in policies
          ? { all: policies as IrPolicy, perFirm: {} }
          : { perFirm: { ...(policies as Record<string, IrPolicy>) } },
      stdlibSources(),
    );
    const dir = join(root, options.name ?? `run${++runs}`);
    await runToDirectory(experiment, dir);
    return {
      dir,
      events: readFileSync(join(dir, 'events.jsonl'), 'utf8'),
      metrics: JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8')) as EnvironmentMetrics,
    };
  };
}

/** A run held in memory: its events and the metrics computed from them. */
export interface EnvironmentSimulation {
  readonly metrics: EnvironmentMetrics;
  readonly events: TraceEvent[];
}

const library = () => compileSources([], stdlibSources(), { includeLibrary: true }).program;
let program: ReturnType<typeof library> | undefined;

/**
 * Runs a stdlib environment in memory (no files: for the many seeded runs a dynamics test
 * averages over). `policy` is one policy for every agent or one per agent by name.
 */
export async function simulateEnvironment(
  environment: string,
  policy: IrPolicy | Readonly<Record<string, IrPolicy>>,
  options: {
    rounds: number;
    seed: number;
    talk?: IrPolicy;
    params?: Readonly<Record<string, ParamValue>>;
    institution?: string;
  },
): Promise<EnvironmentSimulation> {
  program ??= library();
  const experiment = resolveExperiment(
    program,
    {
      environment,
      ...(options.institution ? { institution: options.institution } : {}),
      agents: 'given',
      params: Object.entries(options.params ?? {}).map(([name, value]) => ({ name, value })),
      rounds: options.rounds,
      seed: options.seed,
      ...(options.talk ? { talk: options.talk } : {}),
    },
    () =>
      'name' in policy
        ? { all: policy as IrPolicy, perFirm: {} }
        : { perFirm: { ...(policy as Record<string, IrPolicy>) } },
    stdlibSources(),
  );
  const events: TraceEvent[] = [];
  await runExperiment(experiment, { onEvent: (e) => events.push(e) });
  const metrics = computeEnvironmentMetrics(events, {
    ir: experiment.market as IrEnvironment,
    overrides: experiment.marketOverrides,
  });
  return { metrics, events };
}
