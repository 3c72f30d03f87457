import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ParamValue } from '../../compiler/ir.js';
import type { EnvironmentMetrics } from '../environment/metrics.js';
import { EXIT, MaseUserError } from '../errors.js';
import { benchmarkWarnings, type RunMetrics } from '../metrics.js';
import type { TraceLevel } from '../trace/events.js';
import { parseTraceTolerant, type TraceEvent, type TraceEventOf } from '../trace/events.js';
import { reviveInfinity } from '../trace/writer.js';
import type { RunArtifacts } from './artifacts.js';
import { type ForkSpec, interventionLabel } from './run.js';
import { traceShortfall } from './trace-level.js';

/** A number to `digits` places; one that rounds to zero has no sign (not `-0.000`). */
const fixed = (x: number | null | undefined, digits = 2) =>
  x === null || x === undefined || !Number.isFinite(x)
    ? '—'
    : x.toFixed(digits).replace(/^-(?=0(?:\.0*)?$)/, '');

function meanPrice(metrics: RunMetrics): number | null {
  const from = metrics.window.from;
  const prices = metrics.series.mean_price.slice(from - 1);
  return prices.length ? prices.reduce((a, b) => a + b, 0) / prices.length : null;
}

/** The share of decisions made by a fallback, as a percentage ("—" with no round played). */
function fallbackShare(metrics: Pick<RunMetrics, 'fallbacks'>): string {
  // metrics.json written before fallbacks were counted has none.
  const share = metrics.fallbacks?.share;
  return share === null || share === undefined ? '—' : `${Number((share * 100).toFixed(1))}%`;
}

/** Columns padded to their widest cell, under a rule of dashes. */
function textTable(header: readonly string[], body: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** A plain-text table, one row per run: the numbers the governance comparison reads. */
export function summaryTable(
  rows: readonly { label: string; artifacts: RunArtifacts; note?: string }[],
): string {
  if (rows.some((r) => 'environment' in r.artifacts.metrics.run))
    return environmentTable(rows as readonly EnvironmentRow[]);
  const header = [
    'run',
    'status',
    'rounds',
    'collusion index',
    'tier',
    'verdict',
    'mean price',
    'fines',
    'fallbacks',
    'report',
  ];
  const body = rows.map(({ label, artifacts }) => {
    const m = artifacts.metrics as RunMetrics;
    return [
      label,
      artifacts.status,
      String(m.run.rounds_played),
      fixed(m.macro.collusion_index, 3),
      m.macro.tier === null ? '—' : String(m.macro.tier),
      m.macro.verdict,
      fixed(meanPrice(m)),
      fixed(m.totals.fines, 0),
      fallbackShare(m),
      artifacts.dir,
    ];
  });
  return textTable(header, body);
}

type EnvironmentRow = { label: string; artifacts: RunArtifacts };

/** The table for environments: each run's declared metrics, payoff and fines. */
function environmentTable(rows: readonly EnvironmentRow[]): string {
  const metricsOf = (a: RunArtifacts) =>
    'environment' in a.metrics.run ? (a.metrics as EnvironmentMetrics) : undefined;
  const names = [...new Set(rows.flatMap((r) => Object.keys(metricsOf(r.artifacts)?.macro ?? {})))];
  const header = ['run', 'status', 'rounds', ...names, 'payoff', 'fines', 'fallbacks', 'report'];
  const body = rows.map(({ label, artifacts }) => {
    const m = metricsOf(artifacts);
    return [
      label,
      artifacts.status,
      String(artifacts.metrics.run.rounds_played),
      ...names.map((n) => fixed(m?.macro[n] ?? null, 3)),
      fixed(m?.totals.payoff ?? null, 1),
      fixed(m?.totals.fines ?? null, 0),
      fallbackShare(artifacts.metrics),
      artifacts.dir,
    ];
  });
  return textTable(header, body);
}

/** `mase show` of an environment's run: its declared metrics, agents and institution. */
async function showEnvironmentRun(
  dir: string,
  manifest: {
    experiment: string;
    status: string;
    reason?: string;
    seed: number;
    market: { name: string; overrides?: Record<string, ParamValue> };
    institution: { name: string };
    sources?: { path: string; text: string }[];
    fork?: ForkSpec;
    resumed?: { round: number; at: string; from?: 'state' | 'replay' }[];
  },
  events: readonly TraceEvent[],
  notes: string[],
): Promise<string> {
  let metrics: EnvironmentMetrics;
  if (existsSync(join(dir, 'metrics.json'))) {
    metrics = JSON.parse(readRunFile(dir, 'metrics.json')) as EnvironmentMetrics;
  } else {
    const { compileSources } = await import('../../compiler/index.js');
    const { computeEnvironmentMetrics } = await import('../environment/metrics.js');
    const compiled = compileSources(manifest.sources ?? [], [], { includeLibrary: true });
    const ir = compiled.program.environments.find((e) => e.name === manifest.market.name);
    if (!ir)
      throw new ShowError(
        `${dir} has no metrics.json and its manifest's sources do not declare environment ${manifest.market.name}`,
      );
    metrics = computeEnvironmentMetrics(events, { ir, overrides: manifest.market.overrides ?? {} });
    notes.push('metrics.json is missing: the numbers below are computed from events.jsonl');
  }
  const { run } = metrics;
  const out = [
    `${manifest.experiment}: environment ${run.environment} under ${manifest.institution.name}, seed ${manifest.seed} — ${manifest.status}, ${thousands(run.rounds_played)} of ${thousands(run.rounds)} rounds`,
    ...lineage(manifest),
  ];
  if (manifest.status !== 'completed' && manifest.reason)
    out.push(`  ${manifest.status}: ${manifest.reason}`);
  for (const note of notes) out.push(`  note: ${note}`);
  out.push(
    '',
    `benchmarks (action, payoff per agent${fromFork(metrics.benchmarks_from, 'environment')}):`,
  );
  for (const [name, b] of Object.entries(metrics.benchmarks))
    out.push(
      `  ${name.padEnd(12)} ${b.action.map((x) => fixed(x)).join(' ')}  →  ${b.payoff.map((x) => fixed(x)).join(' ')}`,
    );
  out.push('', 'metrics:');
  for (const [name, value] of Object.entries(metrics.macro))
    out.push(`  macro.${name.padEnd(20)} ${fixed(value, 3)}`);
  for (const w of metrics.warnings.filter((w) => w.startsWith('a fork changed')))
    out.push(`  warning: ${w}`);
  out.push('', `${run.axis}s:`);
  for (const [agent, a] of Object.entries(metrics.agents))
    out.push(
      `  ${agent}: payoff ${fixed(a.payoff)} after fines ${fixed(a.fines)} and credits ${fixed(a.credits)}; ${a.transitions} transitions, ${a.restorations} restorations${keptBack(a)}`,
    );
  out.push(
    '',
    `institution (${manifest.institution.name}): ${metrics.institution.transitions} transitions, ${metrics.institution.restorations} restorations, ${metrics.institution.sanction_errors} sanction errors`,
  );
  return `${out.join('\n')}\n`;
}

/**
 * Where a run comes from, when not only from its sources: the run it is a fork of (its
 * round, interventions and streams), and the checkpoints it was resumed from.
 */
/** Where a fork's run comes from: its parent, the rounds kept, what changed and its streams. */
export function forkLineage(fork: ForkSpec): string {
  const label = interventionLabel(fork.interventions);
  return `a fork of run ${fork.parent}: ${fork.after === 0 ? 'from round 1 under' : `rounds 1–${fork.after} as it played them, then`} ${label === 'none' ? 'no intervention' : label}, with ${fork.seed === undefined ? "the run's own random streams" : `random streams of seed ${fork.seed}`}`;
}

/** The lineage of the run in DIR when it is a fork (its manifest says so), else undefined. */
export function forkOfRun(dir: string): string | undefined {
  const path = join(dir, 'manifest.json');
  if (!existsSync(path)) return undefined;
  try {
    const manifest = JSON.parse(readFileSync(path, 'utf8'), reviveInfinity) as { fork?: ForkSpec };
    return manifest.fork ? forkLineage(manifest.fork) : undefined;
  } catch {
    // The report says what it can of a damaged run; its lineage is not one of those things.
    return undefined;
  }
}

function lineage(manifest: {
  fork?: ForkSpec;
  resumed?: readonly { round: number; at: string; from?: 'state' | 'replay' }[];
}): string[] {
  const lines: string[] = [];
  if (manifest.fork) lines.push(`  ${forkLineage(manifest.fork)}`);
  for (const r of manifest.resumed ?? [])
    lines.push(
      r.round === 0
        ? `  resumed at ${r.at}, from round 1 (killed before its first checkpoint)`
        : `  resumed at ${r.at} from its checkpoint after round ${r.round}${r.from === 'state' ? ' (its saved state)' : r.from === 'replay' ? ` (rounds 1–${r.round} played again)` : ''}`,
    );
  return lines;
}

/** A directory `mase show` cannot summarise, or a bad `--timeline`: exit 2. */
export class ShowError extends MaseUserError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

function readRunFile(dir: string, name: string): string {
  try {
    return readFileSync(join(dir, name), 'utf8');
  } catch {
    throw new ShowError(
      existsSync(dir)
        ? `${dir} has no ${name}: not a run directory, or a run that did not finish (see its manifest.json)`
        : `no such run directory: ${dir}`,
    );
  }
}

/** Which transitions `mase show --timeline` lists: every one, or those of a round range. */
export interface TimelineRange {
  readonly from: number;
  readonly to: number;
}

/**
 * Reads `--timeline`'s value: absent or `true` (the bare flag) for every transition,
 * `N` for one round, `FROM-TO` for a range. A bad value is a ShowError naming it.
 */
export function parseTimelineRange(value: string | boolean | undefined): TimelineRange | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return { from: 1, to: Number.POSITIVE_INFINITY };
  const match = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(value);
  const from = Number(match?.[1]);
  const to = match?.[2] === undefined ? from : Number(match[2]);
  if (!match || from < 1 || to < from)
    throw new ShowError(
      `--timeline takes nothing (every transition), a round N or a range FROM-TO such as 1-100, not \`${value}\``,
    );
  return { from, to };
}

const thousands = (n: number) => n.toLocaleString('en-US');

/**
 * `mase show DIR --message ID`: the message and every message it descends from (through
 * `parents`), origin first, each with its round and talk turn, sender → receivers and its
 * text, quoted so that no agent-written character acts on the terminal. An id the trace
 * does not hold, or a trace with no message ids, is a ShowError (exit 2).
 */
export async function showMessage(dir: string, id: string): Promise<string> {
  const { lineageOf, messagesById, quotedText } = await import('../talk/lineage.js');
  // Messages are kept at summary and full.
  const short = traceShortfall(dir, 'summary', "following a message's lineage");
  if (short) throw new ShowError(short);
  let events: TraceEvent[];
  try {
    events = parseTraceTolerant(readRunFile(dir, 'events.jsonl')).events;
  } catch (error) {
    if (error instanceof ShowError) throw error;
    throw new ShowError(`${dir}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const messages = events.filter((e): e is TraceEventOf<'message'> => e.type === 'message');
  if (messages.length === 0)
    throw new ShowError(`${dir} has no messages: its run had no talk (--talk)`);
  const byId = messagesById(messages);
  /** What an institution's paraphrase delivered in a message's place, by the message's id. */
  const paraphrases = new Map(
    events.flatMap((e) => (e.type === 'message_paraphrased' ? [[e.id, e] as const] : [])),
  );
  if (byId.size === 0)
    throw new ShowError(
      `${dir} records its messages without ids (a trace written before messages had ids), so their lineage cannot be followed`,
    );
  if (!byId.has(id))
    throw new ShowError(
      `${dir} has no message ${quotedText(id)}; its messages are ${[...byId.keys()][0]} to ${[...byId.keys()].pop()} (ids are m<round>.<talk turn>.<k>, as in events.jsonl)`,
    );
  const { messages: lineage, missing } = lineageOf(byId, id);
  const origins = lineage.filter((m) => (m.parents ?? []).every((p) => !byId.has(p)));
  const out = [
    `message ${id}: ${lineage.length === 1 ? 'an origin (it names no parents)' : `${lineage.length} messages in its lineage from ${origins.length === 1 ? '1 origin' : `${origins.length} origins`}, origin first`}`,
  ];
  for (const m of lineage) {
    const parents = m.parents ?? [];
    out.push(
      `  ${m.id}  round ${m.round}, turn ${m.talk_round}  ${m.from} → ${m.to.join(', ') || '(nobody)'}  ${parents.length === 0 ? '(origin)' : `from ${parents.join(', ')}`}`,
      `      ${quotedText(m.text)}${m.truncated ? ' (cut to the length limit)' : ''}`,
    );
    const paraphrase = m.id === undefined ? undefined : paraphrases.get(m.id);
    if (paraphrase)
      out.push(
        `      delivered as (${paraphrase.paraphraser} paraphrase, ${paraphrase.from} in ${quotedText(paraphrase.state)}): ${quotedText(paraphrase.paraphrase)}`,
      );
    if (m.unknown_parents)
      out.push(
        `      also named ${m.unknown_parents.map(quotedText).join(', ')}, which ${m.from} never received (not kept)`,
      );
  }
  if (missing.length > 0)
    out.push(`  note: ${missing.join(', ')} named as parents but not in the trace (cut short?)`);
  return `${out.join('\n')}\n`;
}

/** Columns padded to their widest cell, two spaces apart, indented by `indent`. */
function table(rows: readonly (readonly string[])[], indent = '  ', right = new Set<number>()) {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.length);
    });
  return rows.map(
    (row) =>
      indent +
      row
        .map((c, i) => (right.has(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
  );
}

type Transition = Extract<TraceEvent, { type: 'transition' }>;

/**
 * The institution in a few lines whatever the run's length: rounds each firm spent in
 * each state, transitions counted per edge, and sanctions totalled per firm.
 */
function institutionSummary(metrics: RunMetrics, transitions: readonly Transition[]): string[] {
  const out: string[] = [];
  const firms = metrics.run.firms;
  const states: string[] = [];
  for (const firm of firms)
    for (const state of Object.keys(metrics.agents[firm]?.state_rounds ?? {}))
      if (!states.includes(state)) states.push(state);
  if (states.length === 0)
    return ['institution: no states (every firm played every round unsupervised)'];
  const played = metrics.run.rounds_played;
  out.push('rounds in each state:');
  out.push(
    ...table(
      [
        ['', ...states],
        ...firms.map((firm) => [
          firm,
          ...states.map((state) => {
            const n = metrics.agents[firm]?.state_rounds[state] ?? 0;
            return played > 0
              ? `${thousands(n)} (${Math.round((100 * n) / played)}%)`
              : thousands(n);
          }),
        ]),
      ],
      '  ',
      new Set(states.map((_, i) => i + 1)),
    ),
  );
  const edges = new Map<string, { edge: string; n: number }>();
  for (const t of transitions) {
    const edge = `${t.from} -> ${t.to}${t.rule ? ` [${t.rule}]` : ''}${t.restorative ? ' (restoration)' : ''}`;
    const e = edges.get(edge) ?? { edge, n: 0 };
    e.n++;
    edges.set(edge, e);
  }
  out.push(
    '',
    edges.size === 0
      ? 'transitions: none'
      : `transitions per edge (${thousands(transitions.length)} in all, every firm):`,
  );
  out.push(
    ...table(
      [...edges.values()].map((e) => [e.edge, thousands(e.n)]),
      '  ',
      new Set([1]),
    ),
  );
  const { fines, credits } = metrics.totals;
  const count = (kind: 'fine' | 'credit') =>
    firms.reduce((n, firm) => n + (metrics.agents[firm]?.sanctions[kind] ?? 0), 0);
  out.push(
    '',
    `sanctions: ${thousands(count('fine'))} fines totalling ${fixed(fines)}, ${thousands(count('credit'))} credits totalling ${fixed(credits)}`,
  );
  if (count('fine') + count('credit') > 0)
    out.push(
      ...table(
        firms.map((firm) => {
          const a = metrics.agents[firm];
          return [
            `${firm}:`,
            `${thousands(a?.sanctions.fine ?? 0)} fines`,
            fixed(a?.fines),
            `${thousands(a?.sanctions.credit ?? 0)} credits`,
            fixed(a?.credits),
          ];
        }),
        '  ',
        new Set([1, 2, 3, 4]),
      ),
    );
  return out;
}

/** `; N fallback decisions (x%)` for a firm that had any. */
function fallbackNote(metrics: RunMetrics, firm: string): string {
  const n = metrics.fallbacks?.by_agent[firm] ?? 0;
  const played = metrics.run.rounds_played;
  return n === 0 || played === 0
    ? ''
    : `; ${thousands(n)} fallback decisions (${Math.round((100 * n) / played)}% of its rounds)`;
}

/** Where a fork changed the world's parameters: the round its benchmarks hold from. */
const fromFork = (from: number | undefined, world: string) =>
  from === undefined
    ? ''
    : `; from round ${thousands(from)}, when a fork changed the ${world}'s parameters`;

/**
 * `mase show DIR`: a summary whose length does not grow with the run (benchmarks,
 * outcome, tier, firms, and the institution: time in each state, transitions per edge,
 * sanctions), then, only when asked for, the per-event timeline.
 */
export async function showRun(
  dir: string,
  options: { timeline?: TimelineRange } = {},
): Promise<string> {
  const manifest = JSON.parse(readRunFile(dir, 'manifest.json')) as {
    experiment: string;
    status: string;
    reason?: string;
    seed: number;
    market: { name: string };
    institution: { name: string };
    sources?: { path: string; text: string }[];
    fork?: ForkSpec;
    resumed?: { round: number; at: string; from?: 'state' | 'replay' }[];
    /** How much events.jsonl keeps (absent: full). */
    trace?: TraceLevel;
  };
  const notes: string[] = [];
  let events: TraceEvent[];
  try {
    const trace = parseTraceTolerant(
      existsSync(join(dir, 'events.jsonl')) ? readRunFile(dir, 'events.jsonl') : '',
    );
    events = trace.events;
    if (!existsSync(join(dir, 'events.jsonl'))) notes.push('events.jsonl is missing');
    if (trace.torn) notes.push('the last line of events.jsonl was cut short and is left out');
  } catch (error) {
    throw new ShowError(`${dir}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const header = events.find((e) => e.type === 'header');
  // The manifest read above says it (absent: a run from before levels, full).
  const level = manifest.trace ?? 'full';
  if (level !== 'full')
    notes.push(
      level === 'summary'
        ? 'events.jsonl is a summary trace (--trace summary): payoffs are packed a round a row'
        : 'events.jsonl holds no rounds (--trace none): the numbers are those of metrics.json',
    );
  if (level === 'none' && !existsSync(join(dir, 'metrics.json')))
    throw new ShowError(
      `${dir} wrote no metrics.json (its run did not end) and kept no trace (--trace none): nothing records its rounds`,
    );
  if (header?.type === 'header' && header.environment !== undefined)
    return showEnvironmentRun(dir, manifest, events, notes);
  let metrics: RunMetrics;
  if (existsSync(join(dir, 'metrics.json'))) {
    metrics = JSON.parse(readRunFile(dir, 'metrics.json')) as RunMetrics;
  } else {
    // A run that never ended (killed) or failed early wrote no metrics: score its trace.
    const { institutionFromManifest } = await import('../report/run-report.js');
    const { computeMetrics, institutionMetricsOptions } = await import('../metrics.js');
    const { institution } = await institutionFromManifest(manifest);
    try {
      metrics = computeMetrics(events, institutionMetricsOptions(institution));
    } catch (error) {
      throw new ShowError(
        `${dir} has no metrics.json and its trace cannot be scored (${error instanceof Error ? error.message : String(error)})`,
      );
    }
    notes.push('metrics.json is missing: the numbers below are computed from events.jsonl');
  }
  const transitions = events.filter((e): e is Transition => e.type === 'transition');
  const m = metrics.macro;
  const out: string[] = [];
  out.push(
    `${manifest.experiment}: ${manifest.market.name} under ${manifest.institution.name}, seed ${manifest.seed} — ${manifest.status}, ${thousands(metrics.run.rounds_played)} of ${thousands(metrics.run.rounds)} rounds`,
    ...lineage(manifest),
  );
  if (manifest.status === 'running')
    out.push('  the run never ended: its process was killed or crashed (or it is still running)');
  else if (manifest.status !== 'completed' && manifest.reason)
    out.push(`  ${manifest.status}: ${manifest.reason}`);
  for (const note of notes) out.push(`  note: ${note}`);
  out.push('', `benchmarks (industry profit${fromFork(metrics.benchmarks_from, 'market')}):`);
  for (const name of ['nash', 'collusive', 'competitive'] as const) {
    const b = metrics.benchmarks[name];
    const standing =
      b.verified !== false ? '' : b.exists === false ? '  (no pure equilibrium)' : '  (unverified)';
    out.push(`  ${name.padEnd(12)} ${fixed(b.profit.reduce((x, y) => x + y, 0))}${standing}`);
  }
  for (const warning of benchmarkWarnings(metrics.benchmarks)) out.push(`  warning: ${warning}`);
  if (manifest.status === 'degraded')
    out.push('', `degraded: ${manifest.reason ?? 'too many fallback decisions'}`);
  out.push(
    '',
    `outcome, window rounds ${metrics.window.from}–${metrics.window.to}:`,
    `  collusion index  ${fixed(m.collusion_index, 3)}`,
    // The tier describes structure; the verdict beside it is the reading.
    `  tier             ${m.tier ?? '—'}${m.tier === null && m.reason ? ` (${m.reason})` : ''}${m.tier_unsuspended !== null && m.tier_unsuspended !== m.tier ? `; ${m.tier_unsuspended} over the ${m.unsuspended_rounds} rounds with no firm suspended` : ''}`,
    `  verdict          ${m.verdict}: ${m.verdict_reason}`,
    `  HHI excess       ${fixed(m.hhi_excess, 3)}`,
    `  CV excess        ${fixed(m.cv_excess, 3)}`,
    `  mean price       ${fixed(meanPrice(metrics))}`,
    `  welfare (total)  ${fixed(metrics.totals.welfare)}`,
    // Where the window is not the one asked for (a fork that changed the market).
    ...metrics.warnings.filter((w) => w.startsWith('the window ')).map((w) => `  warning: ${w}`),
  );
  out.push('', 'firms:');
  for (const [firm, a] of Object.entries(metrics.agents)) {
    out.push(
      `  ${firm}: profit ${fixed(a.profit)} after fines ${fixed(a.fines)} and credits ${fixed(a.credits)}; ${a.transitions} transitions, ${a.restorations} restorations${keptBack(a)}${fallbackNote(metrics, firm)}`,
    );
  }
  out.push('', `institution (${manifest.institution.name}):`);
  out.push(...institutionSummary(metrics, transitions).map((l) => (l === '' ? l : `  ${l}`)));
  const range = options.timeline;
  if (!range) {
    if (transitions.length > 0)
      out.push(
        '',
        `timeline: ${thousands(transitions.length)} transitions; \`mase show ${dir} --timeline\` lists them (or --timeline FROM-TO for some rounds)`,
      );
    return `${out.join('\n')}\n`;
  }
  const shown = transitions.filter((e) => e.round >= range.from && e.round <= range.to);
  const which = !Number.isFinite(range.to)
    ? ''
    : range.from === range.to
      ? ` round ${range.from}`
      : ` rounds ${range.from}–${range.to}`;
  out.push(
    '',
    shown.length ? `institution timeline${which}:` : `institution timeline${which}: no transitions`,
  );
  for (const e of shown) {
    out.push(
      `  round ${e.round}: ${e.firm ?? 'market'} ${e.from} -> ${e.to}${e.rule ? ` [${e.rule}]` : ''}${e.restorative ? ' (restoration)' : ''}`,
    );
  }
  return `${out.join('\n')}\n`;
}

/** `, 3 messages kept back` for an agent with messages kept from delivery on its account. */
function keptBack(agent: { readonly blocked_messages?: number }): string {
  const n = agent.blocked_messages ?? 0;
  return n > 0 ? `, ${n} message${n === 1 ? '' : 's'} kept back` : '';
}
