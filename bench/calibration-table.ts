/**
 * The tables of docs/metrics.md, "Calibrating governance_graph", from the sweeps of
 * examples/calibration/calibration.mase. Every number comes from `computeMetrics` on a
 * run's events (events.jsonl under the sweep directory), so the tables can be rebuilt
 * from the runs at any time:
 *
 * - false-positive entry rate: `institution.entries.rate` — entries into a sanction state
 *   per firm-round — on populations that are competitive by construction, where every
 *   firm-round is a negative (Nash, noisy Nash, Q-learning firms in their first rounds);
 * - detection: `institution.detection.rate` on collusive and trigger firms;
 * - the evader's reach: the collusion index Δ it attains against the public thresholds.
 *
 * Run with `npm run build && node dist/bench/calibration-table.js SIGNALS TRADEOFF LEARNED`
 * (the three sweep directories, in that order); prints markdown.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { computeMetrics, parseTrace, type RunMetrics, type RunRecord } from '../runtime/index.js';

interface ScoredRun {
  readonly factors: RunRecord['factors'];
  readonly metrics: RunMetrics;
}

/** Every completed run of a sweep directory, scored from its events. */
export function scoreSweep(directory: string): ScoredRun[] {
  const records = readdirSync(join(directory, 'records')).filter((f) => f.endsWith('.json'));
  return records.flatMap((file) => {
    const record = JSON.parse(readFileSync(join(directory, 'records', file), 'utf8')) as RunRecord;
    if (record.status !== 'completed' || record.artifacts === null) return [];
    const events = parseTrace(
      readFileSync(join(directory, record.artifacts, 'events.jsonl'), 'utf8'),
    );
    return [{ factors: record.factors, metrics: computeMetrics(events) }];
  });
}

/** Which evidence signals an institution level leaves on, and whether it is the pre-calibration setting. */
export function signalLabel(level: string): string {
  const off = (name: string, value: string) => level.includes(`${name}: ${value}`);
  const on = [
    off('hhi_threshold', 'inf') ? null : 'hhi_excess',
    off('specialisation_threshold', 'inf') ? null : 'specialisation',
    off('dispersion_floor', '0') ? null : 'dispersion_collapse',
    off('sync_threshold', 'inf') ? null : 'synchronous',
  ].filter((s) => s !== null);
  const signal = on.length === 4 ? 'all (evidence)' : on.join(' + ');
  return `${signal}, ${level.includes('persistence: 3') ? 'before' : 'after'}`;
}

const mean = (values: readonly number[]) =>
  values.length === 0 ? Number.NaN : values.reduce((s, v) => s + v, 0) / values.length;
const fmt = (value: number, digits = 3) => (Number.isNaN(value) ? '—' : value.toFixed(digits));
const pct = (value: number) => (Number.isNaN(value) ? '—' : `${(100 * value).toFixed(2)}%`);

function pick(runs: readonly ScoredRun[], factor: string, value: string): ScoredRun[] {
  return runs.filter((r) => String(r.factors[factor]) === value);
}

function entryRate(runs: readonly ScoredRun[]): number {
  return mean(runs.map((r) => r.metrics.institution.entries.rate ?? Number.NaN));
}

function detectionRate(runs: readonly ScoredRun[]): number {
  return mean(runs.flatMap((r) => r.metrics.institution.detection.rate ?? []));
}

function delta(runs: readonly ScoredRun[]): number {
  return mean(runs.flatMap((r) => r.metrics.macro.collusion_index ?? []));
}

/** Share of firm-rounds a run's firms spent suspended. */
function suspendedShare(run: RunMetrics): number {
  const agents = Object.values(run.agents);
  const suspended = agents.reduce((s, a) => s + (a.state_rounds.suspended ?? 0), 0);
  return suspended / (agents.length * run.run.rounds_played);
}

export function signalsTable(runs: readonly ScoredRun[]): string {
  const levels = [...new Set(runs.map((r) => String(r.factors.signal)))];
  const rows = levels
    .map((level) => {
      const at = pick(runs, 'signal', level);
      const of = (agents: string) => pick(at, 'agents', agents);
      return {
        label: signalLabel(level),
        cells: [
          pct(entryRate(of('nash'))),
          pct(entryRate(of('noisy_nash'))),
          pct(entryRate(of('noisy_nash(noise: 0.2)'))),
          pct(entryRate(of('qlearning'))),
          pct(detectionRate(of('collusive'))),
          pct(detectionRate(of('trigger'))),
          fmt(delta(of('evader'))),
          fmt(mean(of('qlearning').map((r) => suspendedShare(r.metrics))), 2),
        ],
      };
    })
    .sort((a, b) => a.label.localeCompare(b.label));
  return [
    '| evidence, defaults | FP nash | FP noisy_nash 0.1 | FP noisy_nash 0.2 | FP qlearning (2,000 rounds) | detection collusive | detection trigger | evader Δ | qlearning suspended |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.label} | ${r.cells.join(' | ')} |`),
  ].join('\n');
}

export function tradeoffTable(runs: readonly ScoredRun[]): string {
  const thresholds = [...new Set(runs.map((r) => Number(r.factors.threshold)))].sort(
    (a, b) => a - b,
  );
  return [
    '| specialisation_threshold | FP noisy_nash 0.1 | FP noisy_nash 0.2 | evader Δ |',
    '| ---: | ---: | ---: | ---: |',
    ...thresholds.map((t) => {
      const at = runs.filter((r) => Number(r.factors.threshold) === t);
      const of = (agents: string) => pick(at, 'agents', agents);
      return `| ${t} | ${pct(entryRate(of('noisy_nash')))} | ${pct(entryRate(of('noisy_nash(noise: 0.2)')))} | ${fmt(delta(of('evader')))} |`;
    }),
  ].join('\n');
}

export function learnedTable(runs: readonly ScoredRun[]): string {
  const levels = [...new Set(runs.map((r) => String(r.factors.regime)))];
  return [
    '| regime | runs | Δ (rounds 10,001–20,000) | tier | detection | entries per firm-round | suspended |',
    '| --- | ---: | ---: | --- | ---: | ---: | ---: |',
    ...levels.map((level) => {
      const at = pick(runs, 'regime', level);
      const label = level === 'none' ? 'none' : signalLabel(level).replace('all (evidence), ', '');
      const tiers = at.map((r) => r.metrics.macro.tier).join(', ');
      return `| ${label} | ${at.length} | ${fmt(delta(at))} | ${tiers} | ${level === 'none' ? '—' : pct(detectionRate(at))} | ${pct(entryRate(at))} | ${pct(mean(at.map((r) => suspendedShare(r.metrics))))} |`;
    }),
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [signals, tradeoff, learned] = process.argv.slice(2);
  if (!signals) {
    process.stderr.write(
      'usage: node dist/bench/calibration-table.js SIGNALS_DIR [TRADEOFF_DIR [LEARNED_DIR]]\n',
    );
    process.exit(2);
  }
  const out = [signalsTable(scoreSweep(signals))];
  if (tradeoff) out.push(tradeoffTable(scoreSweep(tradeoff)));
  if (learned) out.push(learnedTable(scoreSweep(learned)));
  process.stdout.write(`${out.join('\n\n')}\n`);
}
