import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
// DuckDB's native module loads when a store opens, not when the runtime's facade is imported.
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { SweepProblem } from './errors.js';
import {
  type EnvironmentRecordMetrics,
  type FactorValue,
  isEnvironmentMetrics,
  type RunRecord,
  type RunRecordMetrics,
} from './record.js';

/**
 * The results store of a sweep directory: `results.duckdb` (tables `runs`, `rounds`,
 * `transitions`, `factors`; an environment sweep's also `metrics`), built from the run
 * records in one pass, with `results.csv`, `results.parquet` (the `runs` table) and
 * `rounds.parquet` beside it for other tools. The store is derived data: rebuilding it
 * from `records/` is always safe.
 */

export const RESULTS_DATABASE = 'results.duckdb';
export const RESULTS_CSV = 'results.csv';
export const RESULTS_PARQUET = 'results.parquet';
export const ROUNDS_PARQUET = 'rounds.parquet';

/** A store that cannot be built, opened or queried as asked; the message is for the user (exit 2). */
export class ResultsError extends SweepProblem {}

export type FactorKind = 'numeric' | 'categorical';

/** One row of a query, with DuckDB's integers as JS numbers. */
export type ResultRow = Record<string, unknown>;

export interface ResultsReader {
  query(sql: string): Promise<ResultRow[]>;
  close(): void;
}

/** Column types of the run metrics; typed by `RunRecordMetrics` so a new metric cannot be forgotten. */
const METRIC_COLUMNS: { readonly [K in keyof RunRecordMetrics]-?: string } = {
  collusion_index: 'DOUBLE',
  tier: 'INTEGER',
  tier_unsuspended: 'INTEGER',
  verdict: 'VARCHAR',
  severe: 'BOOLEAN',
  hhi_excess: 'DOUBLE',
  cv_excess: 'DOUBLE',
  mean_price: 'DOUBLE',
  mean_industry_profit: 'DOUBLE',
  consumer_surplus: 'DOUBLE',
  welfare: 'DOUBLE',
  fines: 'DOUBLE',
  credits: 'DOUBLE',
  sanctions: 'INTEGER',
  transitions: 'INTEGER',
  restorations: 'INTEGER',
  false_positive_rate: 'DOUBLE',
  detection_rate: 'DOUBLE',
  detection_latency: 'DOUBLE',
  rounds_played: 'INTEGER',
  fallbacks: 'INTEGER',
  fallback_share: 'DOUBLE',
  tokens: 'BIGINT',
  cost: 'DOUBLE',
};

/**
 * The column types of an environment run's totals, after its declared metrics (one DOUBLE
 * column each, named as declared); typed by `EnvironmentRecordMetrics` like the above.
 */
const ENVIRONMENT_TOTAL_COLUMNS: {
  readonly [K in Exclude<keyof EnvironmentRecordMetrics, 'declared'>]-?: string;
} = {
  payoff: 'DOUBLE',
  fines: 'DOUBLE',
  credits: 'DOUBLE',
  sanctions: 'INTEGER',
  transitions: 'INTEGER',
  restorations: 'INTEGER',
  rounds_played: 'INTEGER',
  fallbacks: 'INTEGER',
  fallback_share: 'DOUBLE',
  tokens: 'BIGINT',
  cost: 'DOUBLE',
};

/**
 * The kind of world a sweep's runs are in, which decides the metric columns of `runs` and
 * the series of `rounds`: a market's fixed ones, or an environment's declared metrics (the
 * union over the sweep's environments, in the order first declared) and totals.
 */
export type StoreWorld =
  | { readonly kind: 'market' }
  | { readonly kind: 'environment'; readonly metrics: readonly string[] };

const MARKET: StoreWorld = { kind: 'market' };

/** The `runs` columns before the factors (run_id) and after them, in table order. */
const LEADING_COLUMNS: readonly (readonly [string, string])[] = [['run_id', 'VARCHAR']];
const trailingColumns = (
  metrics: readonly (readonly [string, string])[],
): readonly (readonly [string, string])[] => [
  ['seed', 'BIGINT'],
  ['status', 'VARCHAR'],
  ['worker', 'VARCHAR'],
  ['error', 'VARCHAR'],
  ['cell', 'INTEGER'],
  ['replicate', 'INTEGER'],
  ['sweep', 'VARCHAR'],
  ['institution_name', 'VARCHAR'],
  ['started_at', 'VARCHAR'],
  ['finished_at', 'VARCHAR'],
  ['duration_ms', 'DOUBLE'],
  ...metrics,
  ['artifacts', 'VARCHAR'],
  ['llm_firms', 'VARCHAR'],
  ['models', 'VARCHAR'],
];
const TRAILING_COLUMNS = trailingColumns(Object.entries(METRIC_COLUMNS));

/** Every fixed column of `runs`: a factor may not be named like one. */
export const FIXED_RUN_COLUMNS: readonly string[] = [...LEADING_COLUMNS, ...TRAILING_COLUMNS].map(
  ([name]) => name,
);

/** The per-round series of the `rounds` table, in metric order. */
export const ROUND_METRICS = ['mean_price', 'industry_profit', 'hhi', 'fines', 'welfare'] as const;
/** An environment run's per-round series (summed over its agents; payoff before fines and credits). */
export const ENVIRONMENT_ROUND_METRICS = ['payoff', 'fines', 'credits'] as const;

/** How a world's runs fill the store: `runs` metric columns, staging types, `rounds` series. */
interface Layout {
  /** Metric columns of `runs`, in table order. */
  readonly metrics: readonly (readonly [string, string])[];
  /** The staging expression of each metric column. */
  readonly select: (name: string) => string;
  /** The staging struct of a record's metrics. */
  readonly staging: string;
  /** The `metric` values of `rounds`, in order. */
  readonly rounds: readonly string[];
  /** The staging struct of a record's series (after `round INTEGER[]`). */
  readonly seriesStaging: string;
  /** The staging expression of each `rounds` metric's list. */
  readonly seriesSelect: (metric: string, position: number) => string;
  /** A record's metrics as the staging line holds them. */
  readonly stage: (metrics: RunRecord['metrics']) => unknown;
  /** A record's series as the staging line holds it. */
  readonly stageSeries: (series: RunRecord['series']) => unknown;
}

/**
 * The world's own per-round values the runs of an environment sweep record (metrics.json
 * `series.values`), in the order first met; each is a `metric` of `rounds` under its own name,
 * or `value.NAME` when the name is one of ENVIRONMENT_ROUND_METRICS.
 */
function worldValueNames(records: readonly RunRecord[]): string[] {
  const names = new Set<string>();
  for (const record of records) {
    const values = record.series && 'payoff' in record.series ? record.series.values : undefined;
    for (const name of Object.keys(values ?? {})) names.add(name);
  }
  return [...names];
}

function layoutOf(world: StoreWorld, records: readonly RunRecord[]): Layout {
  if (world.kind === 'market')
    return {
      seriesStaging: ROUND_METRICS.map((m) => `${m} DOUBLE[]`).join(', '),
      seriesSelect: (metric) => `series.${metric}`,
      stageSeries: (series) => series,
      metrics: Object.entries(METRIC_COLUMNS),
      select: (name) => `metrics.${name}`,
      staging: Object.entries(METRIC_COLUMNS)
        .map(([name, type]) => `${name} ${type}`)
        .join(', '),
      rounds: ROUND_METRICS,
      stage: (metrics) => metrics,
    };
  const declared = world.metrics;
  const values = worldValueNames(records);
  const position = new Map(declared.map((name, i) => [name, i + 1]));
  const totals = Object.entries(ENVIRONMENT_TOTAL_COLUMNS);
  return {
    metrics: [...declared.map((name): [string, string] => [name, 'DOUBLE']), ...totals],
    // Declared metrics are staged as a list in `world.metrics` order: no metric name
    // reaches the staging schema.
    select: (name) =>
      position.has(name) ? `metrics.declared[${position.get(name)}]` : `metrics.${name}`,
    staging: ['declared DOUBLE[]', ...totals.map(([name, type]) => `${name} ${type}`)].join(', '),
    rounds: [
      ...ENVIRONMENT_ROUND_METRICS,
      ...values.map((name) =>
        (ENVIRONMENT_ROUND_METRICS as readonly string[]).includes(name) ? `value.${name}` : name,
      ),
    ],
    // The world's values are staged as a list of lists in `values` order: no name of a
    // source reaches the staging schema.
    seriesStaging: [
      ...ENVIRONMENT_ROUND_METRICS.map((m) => `${m} DOUBLE[]`),
      'world DOUBLE[][]',
    ].join(', '),
    seriesSelect: (metric, position) =>
      position < ENVIRONMENT_ROUND_METRICS.length
        ? `series.${metric}`
        : `series.world[${position - ENVIRONMENT_ROUND_METRICS.length + 1}]`,
    stageSeries: (series) => {
      if (series === null || !('payoff' in series)) return series;
      const { values: own, ...rest } = series;
      // A run without a value (another environment of the sweep) has it unknown every round.
      return {
        ...rest,
        world: values.map((name) => own?.[name] ?? series.round.map(() => null)),
      };
    },
    stage: (metrics) => {
      if (metrics === null) return null;
      if (!isEnvironmentMetrics(metrics))
        throw new ResultsError("a market run's record in an environment sweep's results");
      return { ...metrics, declared: declared.map((name) => metrics.declared[name] ?? null) };
    },
  };
}

/**
 * Why a column of an environment sweep's `runs` table cannot be named `name` (a declared
 * metric or a factor named like a fixed column, or like each other), if it cannot.
 */
export function environmentColumnProblem(
  metrics: readonly string[],
  factors: readonly string[],
): string | undefined {
  const fixed = new Set(
    [...LEADING_COLUMNS, ...trailingColumns(Object.entries(ENVIRONMENT_TOTAL_COLUMNS))].map(
      ([name]) => name,
    ),
  );
  const seen = new Map<string, string>();
  for (const [what, name] of [
    ...metrics.map((m) => ['metric', m] as const),
    ...factors.map((f) => ['factor', f] as const),
  ]) {
    const folded = name.toLowerCase();
    if (fixed.has(folded))
      return `${what} \`${name}\` has the name of a results column (${[...fixed].join(', ')}); rename it`;
    const other = seen.get(folded);
    if (other !== undefined)
      return `${other} and ${what} \`${name}\` would be one column of the results; rename one`;
    seen.set(folded, `${what} \`${name}\``);
  }
  return undefined;
}

interface FactorColumn {
  readonly name: string;
  readonly kind: FactorKind;
  readonly type: 'DOUBLE' | 'BOOLEAN' | 'VARCHAR';
}

/** `"name"` with quotes doubled: any factor name is a safe SQL identifier. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function quoteString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** Factor columns: the design's order, then any factor a record has beyond it. */
/**
 * Why a factor cannot be called `name` in the results (it is a fixed column's name, in
 * any case: DuckDB identifiers are case-insensitive, so `Seed` would shadow `seed`).
 */
export function factorNameProblem(name: string): string | undefined {
  const folded = name.toLowerCase();
  return FIXED_RUN_COLUMNS.some((c) => c === folded)
    ? `factor \`${name}\` has the name of a results column; name it, e.g. \`factor regime: institution = …\``
    : undefined;
}

function factorColumns(
  records: readonly RunRecord[],
  factorOrder: readonly string[],
): FactorColumn[] {
  const names = [...factorOrder];
  for (const record of records)
    for (const name of Object.keys(record.factors)) if (!names.includes(name)) names.push(name);
  const seen = new Map<string, string>();
  for (const name of names) {
    const problem = factorNameProblem(name);
    if (problem) throw new ResultsError(problem);
    const folded = name.toLowerCase();
    const other = seen.get(folded);
    if (other !== undefined)
      throw new ResultsError(
        `factors "${other}" and "${name}" differ only in case, which the results table cannot tell apart`,
      );
    seen.set(folded, name);
  }
  return names.map((name) => {
    const values = records
      .map((r) => r.factors[name])
      .filter((v): v is FactorValue => v !== undefined);
    if (values.length > 0 && values.every((v) => typeof v === 'number'))
      return { name, kind: 'numeric', type: 'DOUBLE' };
    if (values.length > 0 && values.every((v) => typeof v === 'boolean'))
      return { name, kind: 'categorical', type: 'BOOLEAN' };
    return { name, kind: 'categorical', type: 'VARCHAR' };
  });
}

function byRunOrder(a: RunRecord, b: RunRecord): number {
  return a.cell - b.cell || a.replicate - b.replicate || (a.run_id < b.run_id ? -1 : 1);
}

/** One staging line: fixed keys and `factor_<i>`, so no factor name reaches the JSON schema. */
function stagingLine(record: RunRecord, factors: readonly FactorColumn[], layout: Layout): string {
  const row: Record<string, unknown> = {
    run_id: record.run_id,
    seed: record.seed,
    status: record.status,
    worker: record.worker,
    error: record.error,
    cell: record.cell,
    replicate: record.replicate,
    sweep: record.sweep,
    institution_name: record.institution,
    started_at: record.started_at,
    finished_at: record.finished_at,
    duration_ms: record.duration_ms,
    artifacts: record.artifacts,
    llm_firms: record.llm_firms.join(','),
    models: record.models.join(','),
    metrics: layout.stage(record.metrics),
    series: layout.stageSeries(record.series),
    transition_edges: Object.keys(record.transitions_by_edge),
    transition_counts: Object.values(record.transitions_by_edge),
  };
  factors.forEach((factor, i) => {
    const value = record.factors[factor.name];
    row[`factor_${i}`] =
      value === undefined ? null : factor.type === 'VARCHAR' ? String(value) : value;
  });
  return JSON.stringify(row);
}

function stagingSchema(factors: readonly FactorColumn[], layout: Layout): string {
  const series = `round INTEGER[], ${layout.seriesStaging}`;
  const entries: (readonly [string, string])[] = [
    ...LEADING_COLUMNS,
    ...trailingColumns([]),
    ['metrics', `STRUCT(${layout.staging})`],
    ['series', `STRUCT(${series})`],
    ['transition_edges', 'VARCHAR[]'],
    ['transition_counts', 'BIGINT[]'],
    ...factors.map((f, i): [string, string] => [`factor_${i}`, f.type]),
  ];
  return `{${entries.map(([name, type]) => `${quoteString(name)}: ${quoteString(type)}`).join(', ')}}`;
}

function runsSelect(factors: readonly FactorColumn[], layout: Layout): string {
  const metrics = new Set(layout.metrics.map(([name]) => name));
  const columns = [
    ...LEADING_COLUMNS.map(([name]) => name),
    ...factors.map((f, i) => `factor_${i} AS ${quoteIdentifier(f.name)}`),
    ...trailingColumns(layout.metrics).map(([name]) =>
      metrics.has(name) ? `${layout.select(name)} AS ${quoteIdentifier(name)}` : name,
    ),
  ];
  return `SELECT ${columns.join(', ')} FROM staging ORDER BY cell, replicate, run_id`;
}

// `metric` is an ENUM: five values in millions of rows store and write twice as fast as text.
const roundMetricType = (metrics: readonly string[]) =>
  `CREATE TYPE round_metric AS ENUM (${metrics.map(quoteString).join(', ')})`;

// Without ORDER BY: DuckDB keeps insertion order through unnest, so rows come run by run,
// round by round, metrics in the layout's order (sorting 5M rows would double the build).
// Columns of the inner select are `s<i>`: a world's value name never becomes an identifier.
const roundsSelect = (layout: Layout) => `
  SELECT run_id, round, m.metric AS metric, m.value AS value FROM (
    SELECT run_id, round,
      unnest([${layout.rounds.map((m, i) => `{metric: ${quoteString(m)}::round_metric, value: s${i}}`).join(', ')}]) AS m
    FROM (
      SELECT run_id, unnest(series.round) AS round,
        ${layout.rounds.map((m, i) => `unnest(${layout.seriesSelect(m, i)}) AS s${i}`).join(', ')}
      FROM staging WHERE series IS NOT NULL))`;

const TRANSITIONS_SELECT = `
  SELECT run_id, unnest(transition_edges) AS edge, unnest(transition_counts) AS count FROM staging`;

/** The staging JSONL, in batches: one string for a large sweep would pass V8's string limit. */
function writeStaging(
  path: string,
  records: readonly RunRecord[],
  factors: readonly FactorColumn[],
  layout: Layout,
) {
  const fd = openSync(path, 'w');
  try {
    let batch = '';
    for (const record of records) {
      batch += `${stagingLine(record, factors, layout)}\n`;
      if (batch.length > 1 << 23) {
        writeSync(fd, batch);
        batch = '';
      }
    }
    writeSync(fd, batch);
  } finally {
    closeSync(fd);
  }
}

function removeDatabase(path: string): void {
  rmSync(path, { force: true });
  rmSync(`${path}.wal`, { force: true });
}

/**
 * (Re)build `DIR/results.duckdb` and its exports from the run records. Everything is written
 * to temporary files first; the database is renamed into place last, so a build that dies
 * half-way leaves the previous store (or none), never a partial one.
 */
export async function buildResultsStore(
  dir: string,
  records: readonly RunRecord[],
  factorOrder: readonly string[],
  world: StoreWorld = MARKET,
): Promise<void> {
  const factors = factorColumns(records, factorOrder);
  if (world.kind === 'environment') {
    const problem = environmentColumnProblem(
      world.metrics,
      factors.map((f) => f.name),
    );
    if (problem) throw new ResultsError(problem);
  }
  const layout = layoutOf(world, records);
  const ids = new Set<string>();
  for (const record of records) {
    if (ids.has(record.run_id)) throw new ResultsError(`two records for run ${record.run_id}`);
    ids.add(record.run_id);
  }
  const sorted = [...records].sort(byRunOrder);
  mkdirSync(dir, { recursive: true });
  const suffix = `.partial-${process.pid}`;
  const staging = join(dir, `.results-staging${suffix}.jsonl`);
  const database = join(dir, `${RESULTS_DATABASE}${suffix}`);
  const exports = [RESULTS_CSV, RESULTS_PARQUET, ROUNDS_PARQUET];
  removeDatabase(database);
  let instance: DuckDBInstance | undefined;
  let connection: DuckDBConnection | undefined;
  try {
    writeStaging(staging, sorted, factors, layout);
    const { DuckDBInstance } = await import('@duckdb/node-api');
    instance = await DuckDBInstance.create(database);
    connection = await instance.connect();
    await connection.run(`
      CREATE TEMP TABLE staging AS
      SELECT * FROM read_json(${quoteString(staging)},
        format = 'newline_delimited', columns = ${stagingSchema(factors, layout)},
        maximum_object_size = 1073741824)`);
    await connection.run(`CREATE TABLE runs AS ${runsSelect(factors, layout)}`);
    await connection.run(roundMetricType(layout.rounds));
    await connection.run(`CREATE TABLE rounds AS ${roundsSelect(layout)}`);
    await connection.run(`CREATE TABLE transitions AS ${TRANSITIONS_SELECT}`);
    await connection.run(
      'CREATE TABLE factors (position INTEGER, name VARCHAR, kind VARCHAR, column_type VARCHAR)',
    );
    if (factors.length > 0)
      await connection.run(
        `INSERT INTO factors VALUES ${factors
          .map((f, i) => `(${i}, ${quoteString(f.name)}, '${f.kind}', '${f.type}')`)
          .join(', ')}`,
      );
    if (world.kind === 'environment') {
      // Which columns of `runs` are the environments' declared metrics (`mase analyze` reads them).
      await connection.run('CREATE TABLE metrics (position INTEGER, name VARCHAR)');
      if (world.metrics.length > 0)
        await connection.run(
          `INSERT INTO metrics VALUES ${world.metrics.map((m, i) => `(${i}, ${quoteString(m)})`).join(', ')}`,
        );
    }
    await connection.run('DROP TABLE staging');
    await copyTo(connection, 'runs', join(dir, RESULTS_CSV + suffix), 'FORMAT csv, HEADER true');
    await copyTo(connection, 'runs', join(dir, RESULTS_PARQUET + suffix), 'FORMAT parquet');
    await copyTo(connection, 'rounds', join(dir, ROUNDS_PARQUET + suffix), 'FORMAT parquet');
    await connection.run('CHECKPOINT');
    connection.closeSync();
    connection = undefined;
    instance.closeSync();
    instance = undefined;
    for (const name of exports) renameSync(join(dir, name + suffix), join(dir, name));
    // A write-ahead log left by the old store would be replayed into the new one.
    rmSync(join(dir, `${RESULTS_DATABASE}.wal`), { force: true });
    renameSync(database, join(dir, RESULTS_DATABASE));
  } catch (error) {
    connection?.closeSync();
    instance?.closeSync();
    removeDatabase(database);
    for (const name of exports) rmSync(join(dir, name + suffix), { force: true });
    throw error;
  } finally {
    rmSync(staging, { force: true });
  }
}

async function copyTo(
  connection: DuckDBConnection,
  table: string,
  path: string,
  format: string,
): Promise<void> {
  await connection.run(`COPY ${table} TO ${quoteString(path)} (${format})`);
}

/** DuckDB's values as plain JS: integers of any width as numbers, lists and structs walked. */
function plain(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(plain);
  if (
    value !== null &&
    typeof value === 'object' &&
    Object.getPrototypeOf(value) === Object.prototype
  )
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

function duckdbMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Open `DIR/results.duckdb` read-only. */
export async function openResults(dir: string): Promise<ResultsReader> {
  const path = join(dir, RESULTS_DATABASE);
  if (!existsSync(path))
    throw new ResultsError(
      `${dir} has no ${RESULTS_DATABASE}: run \`mase sweep … --out ${dir}\` first`,
    );
  let instance: DuckDBInstance;
  let connection: DuckDBConnection;
  try {
    // Read only, and no files or URLs beyond the store: what a query may do is read the
    // store (`mase export sft --where` puts user text into one).
    const { DuckDBInstance } = await import('@duckdb/node-api');
    instance = await DuckDBInstance.create(path, {
      access_mode: 'READ_ONLY',
      enable_external_access: 'false',
    });
    connection = await instance.connect();
  } catch (error) {
    throw new ResultsError(`cannot open ${path}: ${duckdbMessage(error)}`);
  }
  return {
    async query(sql) {
      let rows: Record<string, unknown>[];
      try {
        // A prepared statement is one statement: DuckDB refuses a second after a `;`.
        rows = (await (await connection.prepare(sql)).runAndReadAll()).getRowObjectsJS();
      } catch (error) {
        throw new ResultsError(duckdbMessage(error));
      }
      return rows.map((row) => plain(row) as ResultRow);
    },
    close() {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

/**
 * The `runs` rows matching a SQL boolean expression over its columns (all rows without one),
 * in design order (cell, replicate). The expression goes into `SELECT * FROM runs WHERE (…)`
 * on a read-only connection.
 */
export async function selectRuns(dir: string, where?: string): Promise<ResultRow[]> {
  const reader = await openResults(dir);
  try {
    const filter = where === undefined || where.trim() === '' ? '' : ` WHERE (${where})`;
    try {
      return await reader.query(`SELECT * FROM runs${filter} ORDER BY cell, replicate, run_id`);
    } catch (error) {
      throw new ResultsError(
        `invalid where expression ${JSON.stringify(where)}: ${duckdbMessage(error)}`,
      );
    }
  } finally {
    reader.close();
  }
}
