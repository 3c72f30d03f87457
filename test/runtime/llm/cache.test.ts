import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startScriptedServer } from '../../../bench/support/openai-server.js';
import {
  CacheError,
  type ChatRequest,
  DEFAULT_MODEL_FILE,
  OpenAIChatClient,
  parseModelSpec,
  ResponseCache,
  scrubSecrets,
} from '../../../runtime/index.js';
// The cache key, internal to ResponseCache.
import { requestHash, requestIdentity } from '../../../runtime/llm/cache.js';
// How OpenAIChatClient maps the openai package's errors, internal to it.
import { asTransportError } from '../../../runtime/llm/openai-client.js';

/**
 * The response cache's keys and files, and what reaches a cached or reported message.
 */

const scratch = mkdtempSync(join(tmpdir(), 'mase-llm-cache-'));
const savedModel = process.env.MASE_MODEL;
afterEach(() => {
  if (savedModel === undefined) delete process.env.MASE_MODEL;
  else process.env.MASE_MODEL = savedModel;
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const request: ChatRequest = {
  messages: [{ role: 'user', content: 'Round 1. How many?' }],
  settings: { seed: 1 },
};
const keyOf = (spec: string) => requestHash(requestIdentity(parseModelSpec(spec), request, 0));

describe('cache keys of the embedded model', () => {
  it('`local` under two MASE_MODEL files is two models', () => {
    // Neither file exists: the key is worked out without looking for it or fetching it.
    process.env.MASE_MODEL = '/models/a/SmolLM2-135M-Instruct.Q8_0.gguf';
    const a = keyOf('local');
    process.env.MASE_MODEL = '/models/b/Qwen2.5-0.5B-Instruct.Q4_K_M.gguf';
    const b = keyOf('local');
    expect(a).not.toBe(b);
    expect(requestIdentity(parseModelSpec('local'), request, 0)).toMatchObject({
      endpoint: 'local',
      model: 'Qwen2.5-0.5B-Instruct.Q4_K_M.gguf',
    });
  });

  it('`local:PATH` is keyed by its file, and plain `local` by the default file', () => {
    delete process.env.MASE_MODEL;
    expect(keyOf('local:/models/x.gguf')).not.toBe(keyOf('local:/models/y.gguf'));
    expect(requestIdentity(parseModelSpec('local'), request, 0)).toMatchObject({
      endpoint: 'local',
      model: DEFAULT_MODEL_FILE,
    });
    // The spec's path comes before MASE_MODEL, as it does when the file is loaded.
    process.env.MASE_MODEL = '/models/other.gguf';
    expect(requestIdentity(parseModelSpec('local:/models/x.gguf'), request, 0)).toMatchObject({
      model: 'x.gguf',
    });
  });
});

describe('cache files', () => {
  it('for replay: an existing file, opened read-only; a missing one is an error naming it', () => {
    const missing = join(scratch, 'missing.sqlite');
    expect(() => new ResponseCache(missing, 'replay')).toThrow(CacheError);
    expect(() => new ResponseCache(missing, 'replay')).toThrow(missing);
    expect(existsSync(missing)).toBe(false);
    const path = join(scratch, 'recorded.sqlite');
    const recorded = new ResponseCache(path, 'record');
    recorded.put(
      'k',
      'm',
      {},
      { answer: { content: 'hi', promptTokens: 1, completionTokens: 1, structured: false } },
    );
    recorded.close();
    const replay = new ResponseCache(path, 'replay');
    expect(replay.get('k')).toMatchObject({ answer: { content: 'hi' } });
    expect(() => replay.put('k', 'm', {}, { failure: { message: 'x', fault: '5xx' } })).toThrow(
      CacheError,
    );
    replay.close();
  });

  it('for a run: a file that cannot be made is an error naming it', () => {
    // Under a file, as under /etc/passwd: no directory can be made there.
    const file = join(scratch, 'a-file');
    writeFileSync(file, 'not a directory');
    const path = join(file, 'responses.sqlite');
    expect(() => new ResponseCache(path, 'record')).toThrow(CacheError);
    expect(() => new ResponseCache(path, 'record')).toThrow(path);
  });
});

describe('API keys in error messages', () => {
  it('are taken out: the key itself, and anything shaped like one', () => {
    expect(scrubSecrets('refused: Bearer my-own-key-123', ['my-own-key-123'])).toBe(
      'refused: Bearer [redacted]',
    );
    expect(scrubSecrets('Incorrect API key provided: sk-proj-AbC123_xyz-987.')).toBe(
      'Incorrect API key provided: sk-[redacted].',
    );
    const error = OpenAI.APIError.generate(
      401,
      { error: { message: 'Incorrect API key provided: sk-live-0123456789abcdef' } },
      undefined,
      new Headers(),
    );
    const fault = asTransportError(error, ['unused']);
    expect(fault.fault).toBe('fatal');
    expect(fault.message).toMatch(/401/);
    expect(fault.message).not.toContain('0123456789abcdef');
  });

  it('never leave the client, even when the endpoint quotes the Authorization header', async () => {
    const key = 'mase-test-key-4f1c9d';
    const server = await startScriptedServer((r) => ({
      kind: 'status',
      status: 401,
      message: `Incorrect API key provided: ${r.authorization}`,
    }));
    try {
      const client = new OpenAIChatClient(parseModelSpec(`openai-compatible:${server.url}#m`), {
        apiKey: key,
      });
      const failure = await client.complete(request).catch((e: unknown) => e as Error);
      await client.close();
      expect(server.requests[0]?.authorization).toBe(`Bearer ${key}`);
      expect(failure).toBeInstanceOf(Error);
      expect((failure as Error).message).toMatch(
        /refused the request \(401\).*Bearer \[redacted\]/,
      );
      expect((failure as Error).message).not.toContain(key);
    } finally {
      await server.close();
    }
  });
});
