import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileSources } from '../../compiler/index.js';
import type { RunLlmOptions } from '../run/run.js';
import { stdlibSources } from '../sources.js';
import { parseTrace, type TraceEvent, type TraceEventOf } from '../trace/events.js';
import { marketMetrics, runToDirectory } from './artifacts.js';
import { resolveExperiment } from './resolve.js';

/**
 * Part 2 of `mase demo`, the machinery: LLM firms for a few rounds under the prompt-only
 * constitution and under the governance graph, read back from their traces — the
 * institution's text in the prompt, the answers and rationales, notices, sanctions and
 * transitions, and each run's verdict. It shows what MASE does with a model, not what a
 * model does in a market: a few rounds of a small model are no evidence of strategy.
 */

/** The constitution's run: one round shows its text in the prompt and the answers it gets. */
export const CONSTITUTION_ROUNDS = 1;
/**
 * The governance graph's `persistence` in the demo: a warning after one round of evidence
 * instead of three, so that notices, a fine and the prompt that reports them fit in three
 * rounds. Said in the output; the sweep of part 1 uses the graph as it is.
 */
export const DEMO_PERSISTENCE = 1;

export interface MachineryOptions {
  readonly out: string;
  /** Rounds of the governance-graph run. */
  readonly rounds: number;
  readonly seed: number;
  /** The model spec (`local` is the embedded model). */
  readonly model: string;
  readonly llm: RunLlmOptions;
  readonly progress: (total: number) => { onRoundEnd?: (round: number) => void };
}

interface MachineryRun {
  readonly regime: 'constitutional' | 'governance_graph';
  readonly rounds: number;
  readonly params: readonly { name: string; value: number }[];
}

/** Runs the two LLM runs into `OUT/machinery/<regime>` and returns their account as text. */
export async function runMachinery(options: MachineryOptions): Promise<string> {
  const library = stdlibSources();
  const compiled = compileSources([], library, { includeLibrary: true });
  const policy = {
    name: 'llm',
    args: [
      { name: 'model', value: options.model },
      { name: 'memory', value: 3 },
    ],
  };
  const runs: MachineryRun[] = [
    { regime: 'constitutional', rounds: CONSTITUTION_ROUNDS, params: [] },
    {
      regime: 'governance_graph',
      rounds: options.rounds,
      params: [{ name: 'persistence', value: DEMO_PERSISTENCE }],
    },
  ];
  const parts: string[] = [];
  for (const run of runs) {
    const dir = join(options.out, 'machinery', run.regime);
    const name = `demo-machinery-${run.regime}`;
    // Re-running the demo replaces its own earlier runs, and nothing else.
    if (existsSync(join(dir, 'manifest.json'))) {
      const previous = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
        experiment?: string;
      };
      if (previous.experiment === name) rmSync(dir, { recursive: true, force: true });
    }
    const experiment = {
      ...resolveExperiment(
        compiled.program,
        {
          market: 'cournot_2x2',
          institution: run.regime,
          agents: 'llm',
          params: [...run.params],
          rounds: run.rounds,
          seed: options.seed,
        },
        () => ({ all: policy, perFirm: {} }),
        library,
      ),
      name,
    };
    process.stderr.write(
      `part 2: ${run.regime}, LLM firms on ${options.model}, ${run.rounds} round${run.rounds === 1 ? '' : 's'}\n`,
    );
    const artifacts = await runToDirectory(experiment, dir, {
      ...options.progress(run.rounds),
      llm: options.llm,
    });
    const events = parseTrace(readFileSync(join(dir, 'events.jsonl'), 'utf8'));
    const promptFile = join(options.out, 'machinery', `prompt-${run.regime}-f1-round1.txt`);
    parts.push(
      describeRun({
        run,
        dir,
        events,
        promptFile,
        status: artifacts.status,
        verdict: marketMetrics(artifacts.metrics).macro.verdict,
        reason: marketMetrics(artifacts.metrics).macro.verdict_reason,
      }),
    );
  }
  return parts.join('\n\n');
}

/** The prompt texts of a trace by id, and a call's messages resolved to them. */
function messagesOf(events: readonly TraceEvent[], call: TraceEventOf<'llm_call'>) {
  const texts = new Map<string, string>();
  for (const e of events) if (e.type === 'text') texts.set(e.id, e.text);
  return call.messages.map((m) => ({ role: m.role, text: texts.get(m.text) ?? m.text }));
}

/** The institution's part of a system prompt (what the default template puts there). */
export function institutionText(system: string): string | null {
  const match =
    /The market is governed by a public institution\. Its rules:\n([\s\S]*?)\n\s*\nAnswer with/.exec(
      system,
    );
  return match?.[1]?.trimEnd() ?? null;
}

/** A long manifest cut to its header and its RULES section; short texts stay whole. */
function excerpt(text: string, file: string): string[] {
  const lines = text.split('\n');
  if (lines.length <= 12) return lines;
  const rules = lines.indexOf('RULES');
  const end = lines.findIndex((l, i) => i > rules && /^[A-Z][A-Z ]+$/.test(l));
  if (rules < 0) return [...lines.slice(0, 12), `… (${lines.length - 12} more lines in ${file})`];
  const shown = [lines[0] ?? '', ...lines.slice(rules, end < 0 ? undefined : end)];
  return [
    ...shown,
    `… (${lines.length - shown.length} more lines — evidence, states, parameters — in ${file})`,
  ];
}

const quoted = (text: string | undefined, max = 60) => {
  if (text === undefined || text.trim() === '') return '(no rationale)';
  const flat = text.replace(/\s+/g, ' ').trim();
  return JSON.stringify(flat.length > max ? `${flat.slice(0, max - 1)}…` : flat);
};

const amount = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(1));

function describeRun(input: {
  run: MachineryRun;
  dir: string;
  events: readonly TraceEvent[];
  promptFile: string;
  status: string;
  verdict: string;
  reason: string;
}): string {
  const { run, events } = input;
  const out: string[] = [];
  const setting =
    run.regime === 'governance_graph'
      ? `the stdlib governance graph with persistence = ${DEMO_PERSISTENCE} (a warning after ${DEMO_PERSISTENCE} round of evidence, not 3, so that the escalation shows in a few rounds)`
      : 'the stdlib prompt-only constitution: a directive in the prompt, nothing enforces it';
  out.push(`— ${run.regime}: ${setting}; ${input.dir}`);
  const first = events.find(
    (e): e is TraceEventOf<'llm_call'> => e.type === 'llm_call' && e.firm === 'f1',
  );
  if (first) {
    const messages = messagesOf(events, first);
    writeFileSync(
      input.promptFile,
      `${messages.map((m) => `[${m.role}]\n${m.text}`).join('\n\n')}\n`,
    );
    const system = messages.find((m) => m.role === 'system')?.text ?? '';
    const institution = institutionText(system);
    out.push(
      `What f1 reads about the institution, in its system prompt (the whole prompt: ${input.promptFile}):`,
    );
    const lines = institution ? excerpt(institution, input.promptFile) : ['(not found)'];
    out.push(...lines.map((l) => `  | ${l}`));
  }
  const firms = [...new Set(events.flatMap((e) => (e.type === 'decision' ? [e.firm] : [])))];
  const rounds = [...new Set(events.flatMap((e) => ('round' in e ? [e.round] : [])))].sort(
    (a, b) => a - b,
  );
  out.push('Answers (quantities of A and B) and rationales, and what the institution did:');
  for (const round of rounds) {
    const at = events.filter((e) => 'round' in e && e.round === round);
    for (const firm of firms) {
      const decision = at.find(
        (e): e is TraceEventOf<'decision'> => e.type === 'decision' && e.firm === firm,
      );
      const payoff = at.find(
        (e): e is TraceEventOf<'payoff'> => e.type === 'payoff' && e.firm === firm,
      );
      const fallback = at.find(
        (e): e is TraceEventOf<'invalid_action'> => e.type === 'invalid_action' && e.firm === firm,
      );
      const state = payoff?.state ? ` [${payoff.state}]` : '';
      const action = decision ? `[${decision.action.map(amount).join(', ')}]` : '—';
      out.push(
        `  round ${round} ${firm}${state}: ${action} ${fallback ? `(fallback: ${fallback.reason})` : quoted(decision?.rationale)}`,
      );
    }
    for (const e of at) {
      if (e.type === 'transition')
        out.push(
          `    transition ${e.firm ?? 'market'}: ${e.from} → ${e.to}${e.rule ? ` (rule ${e.rule})` : ''}`,
        );
      else if (e.type === 'notice') out.push(`    notice to ${e.firm}: ${JSON.stringify(e.text)}`);
      else if (e.type === 'sanction')
        out.push(`    ${e.sanction} ${e.firm}: ${amount(e.amount)} (state ${e.state})`);
      else if (e.type === 'clamp' && e.cause === 'suspend')
        out.push(`    suspended ${e.firm}: production set to 0`);
    }
  }
  // The notice as the firm read it: the standing line of f1's last round prompt.
  const last = events.findLast(
    (e): e is TraceEventOf<'llm_call'> => e.type === 'llm_call' && e.firm === 'f1',
  );
  const standing = last
    ? messagesOf(events, last)
        .find((m) => m.role === 'user')
        ?.text.split('\n')
        .find((l) => l.startsWith('Your standing with the institution'))
    : undefined;
  if (standing && last && last.round > 1)
    out.push(`What f1 read in round ${last.round}: ${JSON.stringify(standing)}`);
  out.push(
    `Verdict: ${input.verdict} — ${input.reason}${input.status === 'completed' ? '' : ` (run ${input.status})`}`,
  );
  return out.join('\n');
}
