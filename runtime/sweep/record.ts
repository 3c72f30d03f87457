/**
 * What a sweep keeps of each run: one `RunRecord` per run id, whatever executed it (the
 * local pool, a BullMQ worker, a resumed sweep). Records are written one file per run
 * (`DIR/records/<run_id>.json`, atomically), and the results store (`results.duckdb`,
 * `results.csv`, `results.parquet`) is built from them, so a sweep killed at any moment
 * keeps every finished run and never holds two results for one run.
 */

/** A factor's value in a run, as it appears in the results table. */
export type FactorValue = string | number | boolean;

/** The run-level numbers of the results table (null where a run has no such value). */
export interface RunRecordMetrics {
  /** Δ = (π̄ − π_Nash)/(π_collusive − π_Nash) over the evaluation window (docs/metrics.md). */
  readonly collusion_index: number | null;
  /** Collusion tier 0–4. */
  readonly tier: number | null;
  /** The tier over the window's rounds in which no firm is suspended (null: there are none). */
  readonly tier_unsuspended: number | null;
  /** The run's verdict (`macro.verdict`, docs/metrics.md "The verdict"). */
  readonly verdict: string;
  readonly severe: boolean | null;
  readonly hhi_excess: number | null;
  readonly cv_excess: number | null;
  /** Window means. */
  readonly mean_price: number | null;
  readonly mean_industry_profit: number | null;
  readonly consumer_surplus: number | null;
  readonly welfare: number | null;
  /** Totals over the run. */
  readonly fines: number;
  readonly credits: number;
  /** Sanction events (fines and credits) over all firms. */
  readonly sanctions: number;
  readonly transitions: number;
  readonly restorations: number;
  /** The institution's error rates (docs/metrics.md: false positives and detection). */
  readonly false_positive_rate: number | null;
  readonly detection_rate: number | null;
  readonly detection_latency: number | null;
  readonly rounds_played: number;
  /** Decisions made by a fallback over the run, and their share of all decisions (metrics.json `fallbacks`). */
  readonly fallbacks: number;
  readonly fallback_share: number | null;
  /** Model usage of the run (0 without LLM firms). */
  readonly tokens: number;
  readonly cost: number;
}

/**
 * The run-level numbers of an environment's run: its declared metrics and its totals. A
 * market's columns (collusion index, tier, prices, …) mean nothing there and are absent,
 * not 0; the results store of an environment sweep has the declared metrics as columns.
 */
export interface EnvironmentRecordMetrics {
  /** The environment's declared metrics (metrics.json `macro`), by name (null: not a finite number). */
  readonly declared: Readonly<Record<string, number | null>>;
  /** Total payoff of all agents after fines and credits (metrics.json `totals.payoff`). */
  readonly payoff: number;
  readonly fines: number;
  readonly credits: number;
  readonly sanctions: number;
  readonly transitions: number;
  readonly restorations: number;
  readonly rounds_played: number;
  readonly fallbacks: number;
  readonly fallback_share: number | null;
  readonly tokens: number;
  readonly cost: number;
}

/** An environment's per-round series (summed over its agents), for the `rounds` table. */
export interface EnvironmentRecordSeries {
  readonly round: readonly number[];
  readonly payoff: readonly number[];
  readonly fines: readonly number[];
  readonly credits: readonly number[];
  /**
   * The world's own one-number-a-round values (metrics.json `series.values`), by name; absent
   * in records written before they were kept.
   */
  readonly values?: Readonly<Record<string, readonly (number | null)[]>>;
}

/** Whether a record's numbers are an environment's (else a market's). */
export function isEnvironmentMetrics(
  metrics: RunRecordMetrics | EnvironmentRecordMetrics,
): metrics is EnvironmentRecordMetrics {
  return 'declared' in metrics;
}

/** Per-round series of one run, for the long-format `rounds` table. */
export interface RunRecordSeries {
  readonly round: readonly number[];
  readonly mean_price: readonly number[];
  readonly industry_profit: readonly number[];
  readonly hhi: readonly number[];
  readonly fines: readonly number[];
  readonly welfare: readonly (number | null)[];
}

export interface RunRecord {
  /** Content-addressed: the run's experiment digest (`mase run`'s run_id), independent of executor and directories. */
  readonly run_id: string;
  readonly sweep: string;
  /** Position of the run's cell in the design, and of the run among the cell's replicates. */
  readonly cell: number;
  readonly replicate: number;
  readonly seed: number;
  /** Factor name → the value of the run's cell. */
  readonly factors: Readonly<Record<string, FactorValue>>;
  /** `degraded`: played to the end, but too many decisions were fallbacks (docs/llm.md). */
  readonly status: 'completed' | 'degraded' | 'failed';
  /** Why the run failed or is degraded (null when it completed). */
  readonly error: string | null;
  /** Who ran it: `local:<pid>` or the BullMQ worker's name. */
  readonly worker: string;
  readonly started_at: string;
  readonly finished_at: string;
  readonly duration_ms: number;
  /** Null when the run failed before it had metrics. */
  readonly metrics: RunRecordMetrics | EnvironmentRecordMetrics | null;
  /** Transition id → times it fired in the run (the sweep report's diagram edges). */
  readonly transitions_by_edge: Readonly<Record<string, number>>;
  readonly series: RunRecordSeries | EnvironmentRecordSeries | null;
  /** The run's directory (report.html, events.jsonl, …), relative to the artifacts directory. */
  readonly artifacts: string | null;
  /** The institution the run was governed by (its diagram in the sweep report). */
  readonly institution: string;
  /** Firms played by LLM policies, and the model specs they used. */
  readonly llm_firms: readonly string[];
  readonly models: readonly string[];
}
