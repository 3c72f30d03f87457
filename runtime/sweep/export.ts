import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../files.js';
import { traceShortfall } from '../run/trace-level.js';
import { SweepProblem } from './errors.js';
import { selectRuns } from './store.js';
import { readSweepFile } from './sweep.js';

/** What `mase export sft` wrote, and where its dataset card is. */
export interface SftCard {
  readonly path: string;
  readonly records: number;
  readonly runs: number;
}

interface LlmCall {
  type: 'llm_call';
  round: number;
  firm: string;
  model: string;
  purpose?: 'talk';
  attempt: number;
  messages: { role: 'system' | 'user' | 'assistant'; text: string }[];
  response: string | null;
  action: number[] | null;
  error?: string;
}

/**
 * The LLM agents' answers of the runs `where` selects, as chat-format fine-tuning records
 * (`{"messages": [system, observation, …, the agent's answer], "metadata": …}`, one per
 * line), and a dataset card next to the file (`FILE.card.md`): the source runs, the filter,
 * the counts and the models. `turns` chooses which answers: `decisions` (the default: the
 * answers that gave a usable action), `talk` (the answers of talk turns that gave messages:
 * what a text world is about) or `all`. Only answers the run used are exported; the
 * messages are those the model was given, re-asks included.
 */
/** Which answers `mase export sft` writes (`--turns`). */
export type SftTurns = 'decisions' | 'talk' | 'all';

export async function exportSft(
  dir: string,
  out: string,
  options: { where?: string; force?: boolean; turns?: SftTurns } = {},
): Promise<SftCard> {
  const { where, force = false, turns = 'decisions' } = options;
  const cardPath = `${out}.card.md`;
  // What is there may be anything — a sweep's results, a record — so it stays unless asked.
  if (!force)
    for (const path of [out, cardPath])
      if (existsSync(path))
        throw new SweepProblem(
          `${path} exists; choose another --out, or add --force to overwrite it`,
        );
  const sweep = readSweepFile(dir);
  const rows = await selectRuns(dir, where);
  const lines: string[] = [];
  const models = new Map<string, number>();
  const byRun: { run_id: string; records: number }[] = [];
  for (const row of rows) {
    const runId = String(row.run_id);
    const relative = row.artifacts ? String(row.artifacts) : null;
    if (!relative) continue;
    const events = join(sweep.artifacts, relative, 'events.jsonl');
    // Its model calls are kept at summary and full, not at none.
    const short = traceShortfall(
      join(sweep.artifacts, relative),
      'summary',
      `run ${runId}: export sft`,
    );
    if (short) throw new SweepProblem(short);
    if (!existsSync(events))
      throw new SweepProblem(
        `run ${runId}: ${events} is missing (is the artifacts directory reachable from here?)`,
      );
    const texts = new Map<string, string>();
    let count = 0;
    for (const line of readFileSync(events, 'utf8').split('\n')) {
      if (line === '') continue;
      const event = JSON.parse(line) as { type: string; id?: string; text?: string };
      if (event.type === 'text') {
        texts.set(event.id as string, event.text as string);
        continue;
      }
      if (event.type !== 'llm_call') continue;
      const call = event as unknown as LlmCall;
      const talk = call.purpose === 'talk';
      if (turns !== 'all' && turns !== (talk ? 'talk' : 'decisions')) continue;
      if (call.error !== undefined || call.response === null) continue;
      if (!talk && call.action === null) continue;
      const messages = call.messages.map((m) => {
        const content = texts.get(m.text);
        if (content === undefined)
          throw new SweepProblem(`run ${runId}: the trace refers to text ${m.text} it never wrote`);
        return { role: m.role, content };
      });
      messages.push({ role: 'assistant', content: call.response });
      const factors = Object.fromEntries(
        sweep.factors.map((f) => [f, row[f] as string | number | boolean | null]),
      );
      lines.push(
        JSON.stringify({
          messages,
          metadata: {
            run_id: runId,
            sweep: sweep.sweep,
            firm: call.firm,
            round: call.round,
            turn: talk ? 'talk' : 'decision',
            model: call.model,
            attempt: call.attempt,
            seed: row.seed,
            tier: row.tier,
            collusion_index: row.collusion_index,
            factors,
          },
        }),
      );
      models.set(call.model, (models.get(call.model) ?? 0) + 1);
      count++;
    }
    byRun.push({ run_id: runId, records: count });
  }
  mkdirSync(dirname(out) || '.', { recursive: true });
  writeFileAtomic(out, lines.length > 0 ? `${lines.join('\n')}\n` : '');
  const card = {
    source: { sweep: sweep.sweep, directory: dir, digest: sweep.digest },
    filter: where ?? null,
    turns,
    runs: rows.length,
    runs_with_records: byRun.filter((r) => r.records > 0).length,
    records: lines.length,
    models: Object.fromEntries(models),
    source_runs: byRun,
    format:
      'one JSON object per line: {"messages": [{"role", "content"}…, the agent\'s answer as the last, assistant message], "metadata": {run_id, sweep, firm, round, turn ("decision" or "talk"), model, attempt, seed, tier, collusion_index (markets), factors}}',
    created_at: new Date().toISOString(),
  };
  writeFileAtomic(
    cardPath,
    [
      `# Dataset card: ${out}`,
      '',
      `Chat-format fine-tuning records: the ${turns === 'all' ? 'decisions and talk turns' : turns === 'talk' ? 'talk turns' : 'decisions'} of the LLM agents of sweep \`${sweep.sweep}\` (${dir}), one per line.`,
      '',
      `- Filter: ${where ? `\`${where}\`` : 'none (every run)'}`,
      `- Runs selected: ${rows.length}; with LLM decisions: ${card.runs_with_records}`,
      `- Records: ${lines.length}`,
      `- Models: ${[...models].map(([m, n]) => `\`${m}\` (${n})`).join(', ') || 'none'}`,
      '',
      '```json',
      JSON.stringify(card, null, 2),
      '```',
      '',
    ].join('\n'),
  );
  return { path: cardPath, records: lines.length, runs: rows.length };
}
