import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  buildResultsStore,
  type FactorValue,
  openResults,
  ResultsError,
  type RunRecord,
  type RunRecordMetrics,
  selectRuns,
} from '../../../runtime/index.js';

const METRICS: RunRecordMetrics = {
  collusion_index: 0.5,
  tier: 2,
  tier_unsuspended: 1,
  verdict: 'collusive',
  severe: false,
  hhi_excess: 0.1,
  cv_excess: 0.2,
  mean_price: 60,
  mean_industry_profit: 900,
  consumer_surplus: 400,
  welfare: 1300,
  fines: 12.5,
  credits: 2,
  sanctions: 3,
  transitions: 4,
  restorations: 1,
  false_positive_rate: 0.25,
  detection_rate: 0.75,
  detection_latency: 2,
  rounds_played: 3,
  fallbacks: 1,
  fallback_share: 1 / 6,
  tokens: 1234,
  cost: 0.01,
};

function record(
  runId: string,
  factors: Record<string, FactorValue>,
  overrides: Partial<Omit<RunRecord, 'metrics'>> & {
    metrics?: Partial<RunRecordMetrics> | null;
  } = {},
): RunRecord {
  const { metrics, ...rest } = overrides;
  return {
    run_id: runId,
    sweep: 'grid',
    cell: 0,
    replicate: 0,
    seed: 11,
    factors,
    status: 'completed',
    error: null,
    worker: 'local:1',
    started_at: '2025-01-01T00:00:00.000Z',
    finished_at: '2025-01-01T00:00:02.000Z',
    duration_ms: 2000,
    metrics: metrics === null ? null : { ...METRICS, ...metrics },
    transitions_by_edge: { 'normal->warned': 2, 'warned->fined': 1 },
    series: {
      round: [1, 2, 3],
      mean_price: [50, 55, 60],
      industry_profit: [800, 850, 900],
      hhi: [5000, 5000, 5000],
      fines: [0, 5, 7.5],
      welfare: [null, 1250, 1300],
    },
    artifacts: `runs/${runId}`,
    institution: String(factors.regime ?? 'none'),
    llm_firms: ['f1', 'f2'],
    models: ['local:qwen', 'openai:gpt'],
    ...rest,
  };
}

const FAILED = {
  status: 'failed' as const,
  error: 'the model server went away',
  metrics: null,
  series: null,
  transitions_by_edge: {},
};

// Deliberately out of design order: the store sorts by cell and replicate.
const RECORDS: RunRecord[] = [
  record(
    'r3',
    { regime: 'governance_graph', market_intercept: 120, audited: true },
    { cell: 1, replicate: 1, seed: 12, metrics: { tier: 1, collusion_index: 0.2 } },
  ),
  record(
    'r0',
    { regime: 'none', market_intercept: 100, audited: false },
    {
      cell: 0,
      replicate: 0,
      metrics: {
        tier: 4,
        collusion_index: 0.9,
        tier_unsuspended: null,
        verdict: 'enforcement_distorted',
      },
    },
  ),
  record(
    'r1',
    { regime: 'none', market_intercept: 100, audited: false },
    { cell: 0, replicate: 1, seed: 12, ...FAILED },
  ),
  record(
    'r2',
    { regime: 'governance_graph', market_intercept: 120, audited: true },
    { cell: 1, replicate: 0, metrics: { tier: 0, collusion_index: 0.05 } },
  ),
];
const FACTOR_ORDER = ['regime', 'market_intercept', 'audited'];
/** The first columns of the runs table and of results.csv: the id, the factors, then the run's own. */
const LEADING_COLUMNS = [
  'run_id',
  'regime',
  'market_intercept',
  'audited',
  'seed',
  'status',
  'worker',
  'error',
];

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mase-store-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** What pandas, polars or R would read: the exported files, through a DuckDB of their own. */
async function readExport(sql: string): Promise<Record<string, unknown>[]> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    return (await connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

async function query(sql: string): Promise<Record<string, unknown>[]> {
  const reader = await openResults(dir);
  try {
    return await reader.query(sql);
  } finally {
    reader.close();
  }
}

describe('buildResultsStore', () => {
  it('writes the store and its exports, and nothing else', async () => {
    await buildResultsStore(dir, RECORDS, FACTOR_ORDER);
    expect(readdirSync(dir).sort()).toEqual([
      'results.csv',
      'results.duckdb',
      'results.parquet',
      'rounds.parquet',
    ]);
  });

  it('has one typed runs row per record, factors first, in design order', async () => {
    await buildResultsStore(dir, RECORDS, FACTOR_ORDER);
    const columns = await query('DESCRIBE runs');
    expect(columns.slice(0, 6).map((c) => [c.column_name, c.column_type])).toEqual([
      ['run_id', 'VARCHAR'],
      ['regime', 'VARCHAR'],
      ['market_intercept', 'DOUBLE'],
      ['audited', 'BOOLEAN'],
      ['seed', 'BIGINT'],
      ['status', 'VARCHAR'],
    ]);
    expect(columns.map((c) => c.column_name)).toEqual([
      ...LEADING_COLUMNS,
      'cell',
      'replicate',
      'sweep',
      'institution_name',
      'started_at',
      'finished_at',
      'duration_ms',
      ...Object.keys(METRICS),
      'artifacts',
      'llm_firms',
      'models',
    ]);
    const rows = await query('SELECT * FROM runs');
    expect(rows.map((r) => r.run_id)).toEqual(['r0', 'r1', 'r2', 'r3']);
    expect(rows[0]).toMatchObject({
      regime: 'none',
      market_intercept: 100,
      audited: false,
      seed: 11,
      status: 'completed',
      tier: 4,
      tier_unsuspended: null,
      verdict: 'enforcement_distorted',
      collusion_index: 0.9,
      tokens: 1234,
      fines: 12.5,
      llm_firms: 'f1,f2',
      models: 'local:qwen,openai:gpt',
      artifacts: 'runs/r0',
    });
    expect(typeof rows[0]?.tokens).toBe('number');
    expect(rows[1]).toMatchObject({
      status: 'failed',
      error: 'the model server went away',
      collusion_index: null,
      tier: null,
      verdict: null,
      fines: null,
    });
    expect(columns.find((c) => c.column_name === 'verdict')?.column_type).toBe('VARCHAR');
    expect(rows[2]).toMatchObject({ verdict: 'collusive', tier_unsuspended: 1 });
  });

  it('has the rounds in long format and the transitions per edge', async () => {
    await buildResultsStore(dir, RECORDS, FACTOR_ORDER);
    const rounds = await query('SELECT * FROM rounds');
    // Three completed runs × 3 rounds × 5 metrics; the failed run has no series.
    expect(rounds).toHaveLength(45);
    expect(rounds.slice(0, 6)).toEqual([
      { run_id: 'r0', round: 1, metric: 'mean_price', value: 50 },
      { run_id: 'r0', round: 1, metric: 'industry_profit', value: 800 },
      { run_id: 'r0', round: 1, metric: 'hhi', value: 5000 },
      { run_id: 'r0', round: 1, metric: 'fines', value: 0 },
      { run_id: 'r0', round: 1, metric: 'welfare', value: null },
      { run_id: 'r0', round: 2, metric: 'mean_price', value: 55 },
    ]);
    expect(
      await query(
        "SELECT sum(value) AS total FROM rounds WHERE run_id = 'r2' AND metric = 'fines'",
      ),
    ).toEqual([{ total: 12.5 }]);
    expect(await query("SELECT * FROM transitions WHERE run_id = 'r0'")).toEqual([
      { run_id: 'r0', edge: 'normal->warned', count: 2 },
      { run_id: 'r0', edge: 'warned->fined', count: 1 },
    ]);
    expect(await query('SELECT count(*) AS n FROM transitions')).toEqual([{ n: 6 }]);
  });

  it("has an environment world's own per-round values in rounds, under their names", async () => {
    const declared = {
      declared: { similarity_final: 0.5 },
      payoff: 3,
      fines: 0,
      credits: 0,
      sanctions: 0,
      transitions: 0,
      restorations: 0,
      rounds_played: 2,
      fallbacks: 0,
      fallback_share: 0,
      tokens: 0,
      cost: 0,
    };
    const base = { round: [1, 2], payoff: [1, 2], fines: [0, 0], credits: [0, 0] };
    const records = [
      record(
        'e0',
        { agents: 'copy' },
        {
          metrics: declared as never,
          series: { ...base, values: { similarity: [1, null], fines: [7, 8] } },
        },
      ),
      // A record written before the world's values were kept has none.
      record('e1', { agents: 'truncate' }, { cell: 1, metrics: declared as never, series: base }),
    ];
    await buildResultsStore(dir, records, ['agents'], {
      kind: 'environment',
      metrics: ['similarity_final'],
    });
    const rows = await query("SELECT * FROM rounds WHERE run_id = 'e0' AND round = 1");
    // A value named like one of the run's own series is `value.NAME`.
    expect(rows).toEqual([
      { run_id: 'e0', round: 1, metric: 'payoff', value: 1 },
      { run_id: 'e0', round: 1, metric: 'fines', value: 0 },
      { run_id: 'e0', round: 1, metric: 'credits', value: 0 },
      { run_id: 'e0', round: 1, metric: 'similarity', value: 1 },
      { run_id: 'e0', round: 1, metric: 'value.fines', value: 7 },
    ]);
    expect(
      await query(
        "SELECT run_id, round, value FROM rounds WHERE metric = 'similarity' ORDER BY ALL",
      ),
    ).toEqual([
      { run_id: 'e0', round: 1, value: 1 },
      { run_id: 'e0', round: 2, value: null },
      { run_id: 'e1', round: 1, value: null },
      { run_id: 'e1', round: 2, value: null },
    ]);
  });

  it('describes the factors', async () => {
    await buildResultsStore(dir, RECORDS, FACTOR_ORDER);
    expect(await query('SELECT name, kind FROM factors ORDER BY position')).toEqual([
      { name: 'regime', kind: 'categorical' },
      { name: 'market_intercept', kind: 'numeric' },
      { name: 'audited', kind: 'categorical' },
    ]);
  });

  it('exports results.csv with the factor columns after run_id', async () => {
    await buildResultsStore(dir, RECORDS, FACTOR_ORDER);
    const lines = readFileSync(join(dir, 'results.csv'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[0]?.split(',').slice(0, 8)).toEqual(LEADING_COLUMNS);
    expect(lines[1]?.startsWith('r0,none,100.0,false,11,completed,local:1,,0,0,grid,')).toBe(true);
    expect(lines[2]).toContain('failed,local:1,the model server went away');
  });

  it('exports Parquet files DuckDB reads back', async () => {
    await buildResultsStore(dir, RECORDS, FACTOR_ORDER);
    const results = join(dir, 'results.parquet');
    const rounds = join(dir, 'rounds.parquet');
    expect(
      await readExport(
        `SELECT count(*)::INT AS n, sum(tier)::INT AS tiers, string_agg(run_id, ' ' ORDER BY run_id) AS ids FROM read_parquet('${results}')`,
      ),
    ).toEqual([{ n: 4, tiers: 5, ids: 'r0 r1 r2 r3' }]);
    expect(
      await readExport(
        `SELECT metric::VARCHAR AS metric, count(*)::INT AS n FROM read_parquet('${rounds}') GROUP BY metric ORDER BY metric`,
      ),
    ).toEqual(
      ['fines', 'hhi', 'industry_profit', 'mean_price', 'welfare'].map((metric) => ({
        metric,
        n: 9,
      })),
    );
  });

  it('rebuilds over an existing store', async () => {
    await buildResultsStore(dir, RECORDS, FACTOR_ORDER);
    await buildResultsStore(dir, RECORDS.slice(0, 2), FACTOR_ORDER);
    expect(await query('SELECT count(*) AS n FROM runs')).toEqual([{ n: 2 }]);
    expect(readdirSync(dir)).toHaveLength(4);
  });

  it('keeps the previous store when a build fails half-way', async () => {
    await buildResultsStore(dir, RECORDS, FACTOR_ORDER);
    // A seed no BIGINT holds: DuckDB fails while loading, after the staging file is written.
    const broken = record(
      'bad',
      { regime: 'none', market_intercept: 1, audited: true },
      { seed: 1e30 },
    );
    await expect(buildResultsStore(dir, [broken], FACTOR_ORDER)).rejects.toThrow();
    expect(readdirSync(dir).sort()).toEqual([
      'results.csv',
      'results.duckdb',
      'results.parquet',
      'rounds.parquet',
    ]);
    expect(await query('SELECT count(*) AS n FROM runs')).toEqual([{ n: 4 }]);
  });

  it('builds an empty store', async () => {
    await buildResultsStore(dir, [], ['regime']);
    expect(await query('SELECT count(*) AS n FROM runs')).toEqual([{ n: 0 }]);
    expect(await query('SELECT name, kind FROM factors')).toEqual([
      { name: 'regime', kind: 'categorical' },
    ]);
  });

  it('stores a factor of mixed types as text, and quotes odd factor names', async () => {
    await buildResultsStore(
      dir,
      [
        record('a', { 'demand "shock"': 1 }, { cell: 0 }),
        record('b', { 'demand "shock"': 'none' }, { cell: 1 }),
      ],
      ['demand "shock"'],
    );
    expect(await query('SELECT "demand ""shock""" AS v FROM runs')).toEqual([
      { v: '1' },
      { v: 'none' },
    ]);
  });

  it('refuses a factor named like a fixed column, in any case', async () => {
    const clash = (name: string) => buildResultsStore(dir, [record('a', { [name]: 1 })], [name]);
    await expect(clash('seed')).rejects.toThrow(
      'factor `seed` has the name of a results column; name it, e.g. `factor regime: institution = …`',
    );
    await expect(clash('Collusion_Index')).rejects.toBeInstanceOf(ResultsError);
    await expect(
      buildResultsStore(dir, [record('a', { Rho: 1, rho: 2 })], ['Rho', 'rho']),
    ).rejects.toThrow('factors "Rho" and "rho" differ only in case');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses two records of one run', async () => {
    await expect(buildResultsStore(dir, [record('a', {}), record('a', {})], [])).rejects.toThrow(
      'two records for run a',
    );
  });
});

describe('openResults and selectRuns', () => {
  it('says what to do when there is no store', async () => {
    const error = await openResults(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResultsError);
    expect((error as ResultsError).message).toBe(
      `${dir} has no results.duckdb: run \`mase sweep … --out ${dir}\` first`,
    );
  });

  it('selects runs with a SQL condition', async () => {
    await buildResultsStore(dir, RECORDS, FACTOR_ORDER);
    const rows = await selectRuns(dir, "regime = 'governance_graph' AND tier <= 1");
    expect(rows.map((r) => r.run_id)).toEqual(['r2', 'r3']);
    expect((await selectRuns(dir)).map((r) => r.run_id)).toEqual(['r0', 'r1', 'r2', 'r3']);
    expect(await selectRuns(dir, 'audited AND market_intercept > 200')).toEqual([]);
  });

  it("reports a bad condition with DuckDB's message", async () => {
    await buildResultsStore(dir, RECORDS, FACTOR_ORDER);
    const error = await selectRuns(dir, 'colusion_index > 0.5').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResultsError);
    expect((error as Error).message).toMatch(
      /^invalid where expression "colusion_index > 0.5": Binder Error: .*colusion_index/,
    );
    await expect(selectRuns(dir, 'tier <=')).rejects.toThrow(/Parser Error/);
  });

  it('keeps the condition to one statement over the store, and nothing else', async () => {
    await buildResultsStore(dir, RECORDS, FACTOR_ORDER);
    await expect(selectRuns(dir, 'true); DROP TABLE runs; SELECT (1')).rejects.toThrow(
      'Cannot prepare multiple statements at once',
    );
    expect(await query('SELECT count(*) AS n FROM runs')).toEqual([{ n: 4 }]);
    // No files: a condition cannot read (or, through COPY, write) anything but the store.
    await expect(
      selectRuns(dir, "run_id IN (SELECT content FROM read_text('/etc/hostname'))"),
    ).rejects.toThrow(/disabled by configuration/);
    // A `;` inside a string is just a character.
    expect(await selectRuns(dir, "worker <> 'a;b'")).toHaveLength(4);
  });

  it('gives integers as numbers and reports query errors as ResultsError', async () => {
    await buildResultsStore(dir, RECORDS, FACTOR_ORDER);
    expect(await query('SELECT count(*) AS n, sum(sanctions) AS s FROM runs')).toEqual([
      { n: 4, s: 9 },
    ]);
    await expect(query('SELECT nope FROM runs')).rejects.toBeInstanceOf(ResultsError);
  });
});
