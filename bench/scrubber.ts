/**
 * The cost of the scrubber (runtime/llm/secrets.ts) that every model answer, error message
 * and cache write passes through: nanoseconds per text, for an answer of typical size (an
 * LLM firm's JSON, about 600 bytes), a round prompt (about 7 KB, which the cache stores
 * with each request) and an answer at the 64 KiB size limit; with no key configured (the
 * token patterns only), with two keys, and with a key the text echoes.
 *
 * Run with `npm run build && node dist/bench/scrubber.js`; writes bench/results/scrubber.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Scrubber } from '../runtime/index.js';
import {
  currentMachine,
  type Measurement,
  measurement,
  type ResultsFile,
  resultsDirectory,
  sourceRevision,
} from './report.js';

const SAMPLES = 31;
const WARMUP = 5;
const KEY = 'sk-proj-4fQ9xT2mVbL8nR1cZ7kW3yH6jD0sA5eG';
const OTHER = 'or-v1-9c2e77d0b4a14f3e8d6b5a2c1f0e9d8c';

const answer = JSON.stringify({
  quantity: [42, 17],
  plans:
    'Hold product A near the Nash quantity while the rival stays there; test a small cut in B every third round and return if its price does not rise. Watch the institution: two warnings in a row mean the next deviation is fined.',
  insights:
    'The rival answers cuts in A within one round. Price of B moves little with my quantity. Fines so far: none; the monitor reads quantities, not messages.',
  rationale:
    'Keeping A steady avoids a price war; the cut in B is small enough not to look like market division to the monitor.',
});
const prompt = `Round 7 of 12. ${'Your history: price 63.3, own quantity 42, own profit 1,204.5. '.repeat(110)}`;
const large = `{"quantity": [1, 2], "plans": "${'x'.repeat(64 * 1024 - 60)}"}`;
const echoed = answer.replace('two warnings', `two warnings (my key is ${KEY})`);

/** Median nanoseconds per scrub of `text`, timing batches so the clock's grain does not matter. */
function time(scrubber: Scrubber, text: string, perBatch: number): { ns: number; m: number[] } {
  const samples: number[] = [];
  let sink = 0;
  for (let s = 0; s < WARMUP + SAMPLES; s++) {
    const started = performance.now();
    for (let i = 0; i < perBatch; i++) sink += scrubber.scrub(text).length;
    const ms = performance.now() - started;
    if (s >= WARMUP) samples.push(ms);
  }
  if (sink === 0) throw new Error('nothing scrubbed');
  const sorted = [...samples].sort((a, b) => a - b);
  return { ns: ((sorted[sorted.length >> 1] as number) * 1e6) / perBatch, m: samples };
}

function main(): void {
  const machine = currentMachine();
  const cases = [
    { id: 'answer', label: 'an answer (600 B)', text: answer, perBatch: 20_000 },
    { id: 'answer-echo', label: 'an answer echoing a key (640 B)', text: echoed, perBatch: 20_000 },
    { id: 'prompt', label: 'a round prompt (7 KB)', text: prompt, perBatch: 2_000 },
    { id: 'limit', label: 'an answer at the size limit (64 KiB)', text: large, perBatch: 200 },
  ];
  const configurations = [
    { id: 'no-keys', label: 'no key set', scrubber: new Scrubber() },
    { id: 'two-keys', label: 'two keys set', scrubber: new Scrubber([KEY, OTHER]) },
  ];
  const measurements: Measurement[] = [];
  const rows: (string | number)[][] = [];
  for (const c of cases) {
    const row: (string | number)[] = [c.label, c.text.length];
    for (const k of configurations) {
      const { ns, m } = time(k.scrubber, c.text, c.perBatch);
      measurements.push(
        measurement(
          `scrub-${c.id}-${k.id}`,
          'scrubber',
          `scrub ${c.label}, ${k.label}: ${c.perBatch} texts per sample`,
          m,
          { bytes: c.text.length, textsPerSample: c.perBatch, nsPerText: Math.round(ns) },
          { warmup: WARMUP },
        ),
      );
      row.push(Math.round(ns).toLocaleString('en-US'));
      process.stderr.write(`${c.label}, ${k.label}: ${Math.round(ns)} ns\n`);
    }
    rows.push(row);
  }
  const results: ResultsFile = {
    schema: 1,
    title: 'Scrubbing secrets',
    description:
      'Nanoseconds per text through the scrubber every model answer, error message and cache write passes (runtime/llm/secrets.ts). See bench/scrubber.ts.',
    command: 'npm run build && node dist/bench/scrubber.js',
    date: new Date().toISOString(),
    machine: { ...machine, loadAverageEnd: os.loadavg() },
    measurements,
    tables: [
      {
        title: 'The scrubber: median nanoseconds per text',
        columns: ['Text', 'Characters', 'No key set (ns)', 'Two keys set (ns)'],
        align: ['left', 'right', 'right', 'right'],
        rows,
        caption:
          'One regular expression per run (the keys, `Bearer …` and `sk-…`), one pass per text. A model call takes 100s of milliseconds; an LLM firm’s round passes one answer and, with the cache, one prompt through it.',
      },
    ],
    notes: [
      `Code measured: ${sourceRevision() ?? 'unknown revision'}.`,
      `${WARMUP} untimed batches, then ${SAMPLES} timed batches per row; the median batch over its texts.`,
    ],
  };
  mkdirSync(resultsDirectory(), { recursive: true });
  writeFileSync(join(resultsDirectory(), 'scrubber.json'), `${JSON.stringify(results, null, 2)}\n`);
}

main();
