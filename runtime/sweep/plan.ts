import { createHash } from 'node:crypto';
import { formatParamValue, policyText } from '../../compiler/backends/render-expr.js';
import { paramTensor } from '../../compiler/evaluate.js';
import type { SourceText } from '../../compiler/index.js';
import { paramValues } from '../../compiler/instantiate.js';
import type {
  IrExperiment,
  IrFactor,
  IrFactorLevel,
  IrPolicy,
  IrProgram,
  IrSweep,
  ParamValue,
} from '../../compiler/ir.js';
import { sweepSizeProblem } from '../../compiler/sweep-size.js';
import { instantiateEnvironment } from '../environment/instance.js';
import { instantiateMarket, MarketError } from '../market/instance.js';
import { randomStream } from '../random.js';
import { ResolveError, resolveExperiment } from '../run/resolve.js';
import { canonical, experimentDigest, type ResolvedExperiment } from '../run/run.js';
import { SweepProblem } from './errors.js';
import type { FactorValue } from './record.js';
import type { StoreWorld } from './store.js';

/** One run of a sweep: the base experiment with its cell's levels applied, and a seed. */
export interface SweepRun {
  /** sha256 of the experiment digest (resolved experiment and seed) and the cell's factor values. */
  readonly runId: string;
  readonly cell: number;
  readonly replicate: number;
  readonly seed: number;
  readonly factors: Readonly<Record<string, FactorValue>>;
  readonly experiment: ResolvedExperiment;
}

export interface SweepPlan {
  readonly sweep: IrSweep;
  /** Factor names in declaration order (the results table's factor columns). */
  readonly factorOrder: readonly string[];
  /** Distinct cells of the design (each has `replicates` runs). */
  readonly cells: number;
  /** Cells the design drew again (a random design can): run once, not counted in `cells`. */
  readonly repeatedCells: number;
  /** Cell-major: every replicate of cell 0, then of cell 1, … */
  readonly runs: readonly SweepRun[];
  /**
   * The kind of world the runs are in (one kind per sweep: the checker refuses the other),
   * with an environment's declared metrics over every cell, in the order first declared.
   */
  readonly world: StoreWorld;
}

/** The seed of replicate `r`: the same in every cell (common random numbers; runs pair across cells). */
export function replicateSeed(sweepSeed: number, replicate: number): number {
  const hash = createHash('sha256').update(`mase-sweep-seed:${sweepSeed}:${replicate}`).digest();
  return hash.readUInt32BE(0) % 2_147_483_647;
}

/** A level as it appears in the results table: a value, or (a list, a name with arguments) its source text. */
export function levelText(level: IrFactorLevel): FactorValue {
  if (level.kind === 'ref') return policyText(level.ref);
  const v = level.value;
  return Array.isArray(v) ? formatParamValue(v) : (v as FactorValue);
}

/** A cell: for each factor (declaration order), its level. */
type Cell = readonly IrFactorLevel[];

/** The cells of the design, in a fixed order (a function of the sweep and its seed). */
export function designCells(sweep: IrSweep): Cell[] {
  const { factors, design } = sweep;
  if (design.kind === 'grid') {
    let cells: IrFactorLevel[][] = [[]];
    for (const f of factors) {
      const levels = f.levels ?? [];
      cells = cells.flatMap((c) => levels.map((l) => [...c, l]));
    }
    return cells;
  }
  const random = randomStream(sweep.seed, 'sweep-design');
  const n = design.points;
  // Latin hypercube: each factor's range (or list of levels) is cut into n strata, and a
  // random permutation gives each point its stratum; random: independent uniform draws.
  const position = (): number[] => {
    if (design.kind === 'random') return Array.from({ length: n }, () => random.next());
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(random.next() * (i + 1));
      [order[i], order[j]] = [order[j] as number, order[i] as number];
    }
    return order.map((stratum) => (stratum + random.next()) / n);
  };
  const columns = factors.map((f) => position().map((u) => levelAt(f, u)));
  return Array.from({ length: n }, (_, i) => columns.map((c) => c[i] as IrFactorLevel));
}

/** The level at position u ∈ [0, 1) of a factor: a point of its range, or one of its levels. */
function levelAt(f: IrFactor, u: number): IrFactorLevel {
  if (f.range) {
    const { low, high, integer } = f.range;
    // Whole numbers: each of the high − low + 1 values gets an equal share of [0, 1).
    return {
      kind: 'value',
      value: integer
        ? Math.min(high, low + Math.floor(u * (high - low + 1)))
        : low + u * (high - low),
    };
  }
  const levels = f.levels ?? [];
  return levels[Math.min(levels.length - 1, Math.floor(u * levels.length))] as IrFactorLevel;
}

const asPolicy = (level: IrFactorLevel): IrPolicy =>
  level.kind === 'ref' ? level.ref : { name: String(level.value), args: [] };

const overridesOf = (policy: IrPolicy): Record<string, ParamValue> =>
  Object.fromEntries(policy.args.flatMap((a) => (a.name ? [[a.name, a.value]] : [])));

/** The base experiment with a cell's levels applied (what `mase run` would run for that cell). */
export function applyCell(
  base: IrExperiment,
  factors: readonly IrFactor[],
  cell: Cell,
  program?: IrProgram,
): IrExperiment {
  let market = { ...base.market, overrides: { ...base.market.overrides } };
  let institution = { ...base.institution, overrides: { ...base.institution.overrides } };
  let all = base.agents.all;
  const perFirm: Record<string, IrPolicy> = { ...base.agents.perFirm };
  let rounds = base.rounds;
  let horizon = base.horizon;
  let continuation = base.continuation;
  let talk = base.talk;
  let memory: ParamValue | undefined;
  // Whole-thing levels first (a market or institution level replaces the base's overrides
  // unless it names the base's own and adds none; every firm's policy), then parameters
  // and per-firm policies, whatever the order the factors are written in.
  factors.forEach((f, i) => {
    const level = cell[i] as IrFactorLevel;
    const t = f.target;
    if (t.kind === 'agents' && !t.firm) {
      // Every firm's policy replaces the base's per-firm ones; per-firm factors (below)
      // override it, as `agents FIRM = …` does in an experiment, whatever the order.
      all = asPolicy(level);
      for (const firm of Object.keys(perFirm)) delete perFirm[firm];
    } else if (t.kind === 'market' || t.kind === 'environment') {
      const p = asPolicy(level);
      const keep = p.name === base.market.name && p.args.length === 0;
      market = {
        name: p.name,
        overrides: keep ? { ...base.market.overrides } : overridesOf(p),
        ...(t.kind === 'environment' ? { kind: 'environment' as const } : {}),
      };
    } else if (t.kind === 'institution') {
      const p = asPolicy(level);
      const keep = p.name === base.institution.name && p.args.length === 0;
      institution = {
        name: p.name,
        overrides: keep ? { ...base.institution.overrides } : overridesOf(p),
      };
    }
  });
  factors.forEach((f, i) => {
    const level = cell[i] as IrFactorLevel;
    const t = f.target;
    const value = level.kind === 'value' ? level.value : undefined;
    switch (t.kind) {
      case 'param': {
        // A parameter applies where the cell's world or institution declares it (a
        // `fine_share` level means nothing under `none`); the cell's row keeps the level.
        const use = t.owner === 'institution' ? institution : market;
        const declared = (
          t.owner === 'institution'
            ? program?.institutions
            : t.owner === 'environment'
              ? program?.environments
              : program?.markets
        )
          ?.find((d) => d.name === use.name)
          ?.params.some((p) => p.name === t.name);
        if (value !== undefined && declared !== false) use.overrides[t.name] = value;
        break;
      }
      case 'agents':
        if (t.firm) perFirm[t.firm] = asPolicy(level);
        break;
      case 'rounds':
        rounds = Number(value);
        break;
      case 'memory':
        memory = value;
        break;
      case 'talk':
        talk = asPolicy(level);
        break;
      case 'horizon':
        horizon = value === 'unknown' ? 'unknown' : 'known';
        break;
      case 'continuation':
        continuation = Number(value);
        break;
      default:
        break;
    }
  });
  // The memory window of every LLM firm.
  const withMemory = (p: IrPolicy | undefined): IrPolicy | undefined =>
    p && memory !== undefined && p.name === 'llm'
      ? {
          name: p.name,
          args: [...p.args.filter((a) => a.name !== 'memory'), { name: 'memory', value: memory }],
        }
      : p;
  const allPolicy = withMemory(all);
  return {
    ...base,
    market,
    institution,
    agents: {
      ...(allPolicy ? { all: allPolicy } : {}),
      perFirm: Object.fromEntries(
        Object.entries(perFirm).map(([firm, p]) => [firm, withMemory(p) as IrPolicy]),
      ),
    },
    ...(rounds !== undefined ? { rounds } : {}),
    ...(horizon !== undefined ? { horizon } : {}),
    ...(continuation !== undefined ? { continuation } : {}),
    ...(talk !== undefined ? { talk } : {}),
  };
}

/** A problem with a sweep as a whole (no such sweep, a cell that cannot run): a message, exit 2. */
export class SweepError extends SweepProblem {}

/**
 * Every run of a sweep, in a fixed order: the design's cells, each with `replicates` runs.
 * `sources` are all sources the program was compiled from (user files and the stdlib).
 */
export function planSweep(
  program: IrProgram,
  sweep: IrSweep,
  sources: readonly SourceText[],
): SweepPlan {
  const base = program.experiments.find((e) => e.name === sweep.base);
  if (!base) throw new SweepError(`sweep ${sweep.name}: no experiment \`${sweep.base}\``);
  // Checked again here, before any cell is drawn: a plan holds every run in memory.
  const tooLarge = sweepSizeProblem(sweep);
  if (tooLarge) throw new SweepError(`sweep ${sweep.name}: ${tooLarge}`);
  const cells = designCells(sweep);
  const runs: SweepRun[] = [];
  const seen = new Set<string>();
  let repeatedCells = 0;
  const declared = new Set<string>();
  let environments = false;
  cells.forEach((cell, index) => {
    const variant = applyCell(base, sweep.factors, cell, program);
    const factors = Object.fromEntries(
      sweep.factors.map((f, i) => [f.name, levelText(cell[i] as IrFactorLevel)]),
    );
    const programWith: IrProgram = {
      ...program,
      experiments: program.experiments.map((e) => (e === base ? variant : e)),
    };
    // Resolved once per cell (replicates differ only in their seed), and checked as a whole:
    // the checker saw each level against the base alone, not against the cell's other levels.
    let resolved: ResolvedExperiment;
    try {
      resolved = resolveExperiment(
        programWith,
        { experiment: base.name, params: [] },
        () => {
          throw new ResolveError('sweeps name policies in the file');
        },
        sources,
      );
      checkCell(resolved);
      if (resolved.market.kind === 'environment') {
        environments = true;
        for (const m of resolved.market.metrics) declared.add(m.name);
      }
    } catch (error) {
      if (error instanceof ResolveError || error instanceof MarketError)
        throw new SweepError(
          `sweep ${sweep.name}, cell ${index} (${describeCell(factors)}): ${error.message}`,
        );
      throw error;
    }
    let repeated = false;
    for (let replicate = 0; replicate < sweep.replicates; replicate++) {
      const seed = replicateSeed(sweep.seed, replicate);
      const experiment: ResolvedExperiment = { ...resolved, seed };
      const runId = createHash('sha256')
        .update(canonical({ experiment: experimentDigest(experiment), factors }))
        .digest('hex')
        .slice(0, 32);
      // Two cells with the same levels (a random design can draw a level twice) are one
      // cell: replicates have the same seeds in every cell, so all its runs exist already.
      if (seen.has(runId)) {
        repeated = true;
        continue;
      }
      seen.add(runId);
      runs.push({ runId, cell: index, replicate, seed, factors, experiment });
    }
    if (repeated) repeatedCells++;
  });
  return {
    sweep,
    factorOrder: sweep.factors.map((f) => f.name),
    cells: cells.length - repeatedCells,
    repeatedCells,
    runs,
    world: environments ? { kind: 'environment', metrics: [...declared] } : { kind: 'market' },
  };
}

/**
 * A cell's market and institution parameters fit together: the market's lists fit the
 * firms and products its overrides imply, and so do the institution's.
 */
function checkCell(experiment: ResolvedExperiment): void {
  const market =
    experiment.market.kind === 'environment'
      ? instantiateEnvironment(experiment.market, experiment.marketOverrides)
      : instantiateMarket(experiment.market, experiment.marketOverrides);
  const values = paramValues(experiment.institution.params, experiment.institutionOverrides);
  for (const p of experiment.institution.params) {
    const problem = paramTensor(p.type, values.get(p.name) ?? p.value, market.dims);
    if (typeof problem === 'string')
      throw new ResolveError(
        `${experiment.institution.name}'s parameter ${p.name} ${problem} in ${experiment.market.name} here`,
      );
  }
}

export function describeCell(factors: Readonly<Record<string, FactorValue>>): string {
  return Object.entries(factors)
    .map(([k, v]) => `${k} = ${v}`)
    .join(', ');
}
