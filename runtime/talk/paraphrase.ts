/**
 * Paraphrase by a named model (`paraphrase "MODEL"` in an institution's state,
 * docs/language.md "Messages"): the message is sent to the model through the run's model
 * services — the same endpoints, limits, budget and response cache as LLM agents — and its
 * recipients read the answer. Each rewrite is an `llm_call` event (purpose `paraphrase`,
 * on the sender's account) and a `message_paraphrased` event; a replay from the cache
 * gives back the same rewrites, since they are asked for in delivery order.
 */

import type { IrInstitution } from '../../compiler/ir.js';
import { LlmFatalError } from '../agents/llm.js';
import { EXIT, MaseUserError } from '../errors.js';
import type { ChatMessage } from '../llm/client.js';
import { TransportError } from '../llm/client.js';
import type { Endpoint, LlmServices } from '../llm/services.js';
import { type ModelSpec, parseModelSpec } from '../llm/spec.js';
import type { TraceEventOf } from '../trace/events.js';

/** What the model is told; the message follows as the user's turn, quoted as data. */
export const PARAPHRASE_INSTRUCTION =
  'You rewrite messages before they are delivered. Rewrite the message you are given in your own words: keep its meaning, its names and its numbers; change its wording and, where you can, the order of its phrases. Answer with the rewritten message only, nothing else.';

/** A paraphrasing model that cannot be used (a bad spec): exit 2 before the run starts. */
export class ParaphraseError extends MaseUserError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

export type ParaphraseCall = TraceEventOf<'llm_call'>;

/**
 * The models an experiment's institution paraphrases with (none without talk): a run with
 * any uses the model services — their cache, limits and budget — as one with LLM agents does.
 */
export function paraphrasingModels(experiment: {
  readonly institution: IrInstitution;
  readonly talk?: unknown;
}): string[] {
  if (experiment.talk === undefined) return [];
  return [...new Set(experiment.institution.states.flatMap((s) => s.paraphraser ?? []))];
}

export class ModelParaphraser {
  private readonly endpoints = new Map<string, Endpoint>();

  /** Checks every model named (a bad spec is the user's error) before anything runs. */
  constructor(
    private readonly services: LlmServices,
    models: readonly string[],
    private readonly seed: number,
  ) {
    for (const text of models) {
      let spec: ModelSpec;
      try {
        spec = parseModelSpec(text);
      } catch (error) {
        throw new ParaphraseError(
          `paraphrase "${text}": ${error instanceof Error ? error.message : String(error)}`,
        );
      }
      this.endpoints.set(text, services.endpoint(spec));
    }
  }

  /** The rewrite of TEXT by MODEL; `record` gets the call's trace event (full texts). */
  async rewrite(
    model: string,
    round: number,
    firm: string,
    text: string,
    record: (call: ParaphraseCall) => void,
  ): Promise<string> {
    const endpoint = this.endpoints.get(model);
    if (!endpoint) throw new Error(`no endpoint for the paraphrasing model ${model}`);
    const messages: ChatMessage[] = [
      { role: 'system', content: PARAPHRASE_INSTRUCTION },
      { role: 'user', content: text },
    ];
    let answer: Awaited<ReturnType<Endpoint['ask']>>;
    try {
      answer = await endpoint.ask(
        { messages, settings: { temperature: 0, seed: this.seed } },
        () => {},
      );
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      // A message may not go out unparaphrased: the run fails, as with a model that refuses every request.
      throw new LlmFatalError(
        `paraphrase of ${firm}'s message in round ${round} (${model}) got no answer${error instanceof TransportError ? ' after its retries' : ''}: ${reason}`,
      );
    }
    const { response } = answer;
    this.services.usage.addAnswer(firm, response);
    const rewrite = response.content.trim();
    record({
      type: 'llm_call',
      round,
      firm,
      model,
      purpose: 'paraphrase',
      attempt: 1,
      messages: messages.map((m) => ({ role: m.role, text: m.content })),
      response: response.content,
      action: null,
      ...(rewrite === '' ? { error: 'empty answer: the message is delivered as written' } : {}),
      prompt_tokens: response.promptTokens,
      completion_tokens: response.completionTokens,
      retries: answer.retries,
      cache_hit: response.cacheHit === true,
      structured: response.structured,
      latency_ms: answer.latencyMs,
    });
    return rewrite === '' ? text : rewrite;
  }
}
