import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ChatClient, ChatRequest, ChatResponse } from '../../../runtime/llm/client.js';
import { LlmServices } from '../../../runtime/llm/services.js';
import { parseModelSpec } from '../../../runtime/llm/spec.js';
import { randomStream } from '../../../runtime/random.js';

/**
 * The model services' state in a checkpoint (docs/checkpoints.md): a run resumed from it asks
 * the n-th repeat of a question as the n-th (its sample index names its cached answer), goes
 * on counting tokens and cost from the usage before (so a budget stops it where an
 * uninterrupted run stops), and keeps what it learnt of the model for the manifest.
 */

const scratch = mkdtempSync(join(tmpdir(), 'mase-services-state-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const request: ChatRequest = {
  messages: [{ role: 'user', content: 'The same question each time.' }],
  settings: { seed: 1 },
};

/** A client that answers each call with its name and the call's number, and counts the calls. */
function countingClient(name = 'answer'): ChatClient & { calls: number } {
  const client = {
    id: 'counting',
    calls: 0,
    complete: async (): Promise<ChatResponse> => {
      client.calls++;
      return {
        content: `${name} ${client.calls}`,
        promptTokens: 10,
        completionTokens: 5,
        model: 'tiny-1',
        systemFingerprint: 'fp-7',
        structured: true,
      };
    },
  };
  return client;
}

const services = (cache: string, client: ChatClient) =>
  new LlmServices(
    {
      clientFor: () => client,
      cache: { path: cache, mode: 'record' },
      env: {},
      budget: { maxTokens: 40 },
    },
    randomStream(1, 'llm-retry-jitter'),
  );

const spec = parseModelSpec('openai-compatible:http://127.0.0.1:9/v1#tiny');
/** Asks the question once, counting the answer on f1's account as an LLM agent does. */
const ask = async (s: LlmServices) => {
  const { response } = await s.endpoint(spec).ask(request, () => {});
  s.usage.addAnswer('f1', response);
  return response.content;
};

describe('the model services saved in a checkpoint and set again', () => {
  it('a repeat after the checkpoint is asked as the next sample, and the usage goes on', async () => {
    const cache = join(scratch, 'samples.sqlite');
    const first = countingClient();
    const before = services(cache, first);
    expect([await ask(before), await ask(before)]).toEqual(['answer 1', 'answer 2']);
    const saved = structuredClone(before.save());
    await before.close();

    // Set again: the third asking is sample 2, which the cache does not hold.
    const second = countingClient('resumed');
    const resumed = services(cache, second);
    resumed.restore(saved);
    expect(await ask(resumed)).toBe('resumed 1');
    expect(second.calls).toBe(1);
    expect(resumed.usage.total).toMatchObject({ calls: 3, promptTokens: 30, completionTokens: 15 });
    // 45 tokens of a 40-token budget: spent, as it is after three calls of one process.
    expect(resumed.usage.exceeded()).toMatch(/token budget \(40\) is spent: 45 tokens used/);
    expect(resumed.provenance()).toEqual([
      expect.objectContaining({
        reported_models: ['tiny-1'],
        system_fingerprints: ['fp-7'],
        first_used_at: saved.endpoints[0]?.[1].firstUsedAt,
      }),
    ]);
    await resumed.close();

    // Not set again, the third asking would be taken for the first: its answer from the cache.
    const third = countingClient('fresh');
    const fresh = services(cache, third);
    expect(await ask(fresh)).toBe('answer 1');
    expect(third.calls).toBe(0);
    await fresh.close();
  });

  it('a state saved before an endpoint is made is set when it is made', async () => {
    const cache = join(scratch, 'later.sqlite');
    const before = services(cache, countingClient());
    await ask(before);
    const saved = structuredClone(before.save());
    await before.close();
    const client = countingClient();
    const resumed = services(cache, client);
    resumed.restore(saved);
    // Made after the restore: it asks the second sample.
    await ask(resumed);
    expect(client.calls).toBe(1);
    await resumed.close();
  });
});
