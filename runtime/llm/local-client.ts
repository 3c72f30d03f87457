import { availableParallelism } from 'node:os';
import type {
  ChatHistoryItem,
  Llama,
  LlamaContext,
  LlamaContextSequence,
  LlamaGrammar,
  LlamaModel,
} from 'node-llama-cpp';
import { type ChatClient, type ChatRequest, type ChatResponse, TransportError } from './client.js';
import { ensureLocalModel } from './model-files.js';
import type { ModelSpec } from './spec.js';

/**
 * The embedded model (`local`): a GGUF file run in-process by node-llama-cpp on the CPU.
 * Each answer is constrained to the action's JSON schema while it is generated (a grammar
 * built from the schema), so it is always JSON of the right shape; numbers are limited to
 * the whole numbers of the action's range where that range is small enough to list, and
 * strings to a length that keeps answers short.
 *
 * The context holds `sequences` parallel sequences; the endpoint's concurrency limit is set
 * to the same number, so each request in flight has one.
 */

export interface LocalOptions {
  /** Parallel sequences (and so requests in flight); default 2. */
  readonly sequences?: number;
  /** CPU threads; default `defaultLocalThreads()`: every core, or `MASE_LOCAL_THREADS`. */
  readonly threads?: number;
  /** Tokens of context per sequence; default 4096. */
  readonly contextSize?: number;
}

export const DEFAULT_LOCAL_SEQUENCES = 2;

/**
 * The model's threads: `MASE_LOCAL_THREADS` when it is a whole number from 1 to the cores,
 * else every core. llama.cpp's threads wait for each other at every step, so on a machine
 * busy with other work fewer threads are faster (docs/llm.md): on 2 cores, idle, 2 threads
 * read a 1,700-token prompt in 7 s and 1 thread in 14 s; beside a test suite, 2 threads
 * generated 2–9 tokens/s and 1 thread 37–46.
 */
export function defaultLocalThreads(cores: number, setting: string | undefined): number {
  const n = Number(setting?.trim());
  return setting !== undefined && /^\s*\d+\s*$/.test(setting) && n >= 1 && n <= cores ? n : cores;
}

// Strings are bounded so that the whole answer fits the token limit: a grammar cannot
// close a JSON object the generation was cut off in the middle of.
const MAX_ANSWER_TOKENS = 600;
const MAX_STRING = 80;
const MAX_ENUM = 2001;

interface Loaded {
  readonly llama: Llama;
  readonly model: LlamaModel;
  readonly context: LlamaContext;
  readonly path: string;
  /** The context's sequences not in use (the endpoint's limit keeps one free per request). */
  readonly free: LlamaContextSequence[];
}

/** The schema as the grammar should see it: bounded strings, listed whole numbers. */
export function localSchema(
  schema: Record<string, unknown>,
  range?: { min: number; max: number },
): Record<string, unknown> {
  const rewrite = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(rewrite);
    if (!node || typeof node !== 'object') return node;
    const n = node as Record<string, unknown>;
    if (n.type === 'string' && n.maxLength === undefined) return { ...n, maxLength: MAX_STRING };
    if (n.type === 'number' && range) {
      const low = Math.ceil(range.min);
      const high = Math.floor(range.max);
      if (high >= low && high - low < MAX_ENUM)
        return { enum: Array.from({ length: high - low + 1 }, (_, i) => low + i) };
    }
    return Object.fromEntries(Object.entries(n).map(([k, v]) => [k, rewrite(v)]));
  };
  const rewritten = rewrite(schema) as Record<string, unknown>;
  // Keywords the grammar builder has no use for.
  delete rewritten.$schema;
  return rewritten;
}

export class LocalChatClient implements ChatClient {
  readonly id: string;
  private loaded: Promise<Loaded> | undefined;
  private readonly grammars = new Map<string, Promise<LlamaGrammar>>();
  /** The model's architecture, size and quantisation, once loaded (e.g. "llama 256M Q4_1"). */
  description: string | undefined;
  file: string | undefined;

  constructor(
    private readonly spec: ModelSpec,
    private readonly options: LocalOptions = {},
  ) {
    this.id = spec.text;
  }

  get sequences(): number {
    return this.options.sequences ?? DEFAULT_LOCAL_SEQUENCES;
  }

  private load(): Promise<Loaded> {
    this.loaded ??= (async () => {
      const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
      const path = ensureLocalModel(this.spec.path);
      const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
      const model = await llama.loadModel({ modelPath: path });
      const context = await model.createContext({
        sequences: this.sequences,
        threads:
          this.options.threads ??
          defaultLocalThreads(availableParallelism(), process.env.MASE_LOCAL_THREADS),
        contextSize: (this.options.contextSize ?? 4096) * this.sequences,
      });
      this.description = model.typeDescription;
      this.file = path;
      const free = Array.from({ length: this.sequences }, () => context.getSequence());
      return { llama, model, context, path, free };
    })();
    return this.loaded;
  }

  private grammar(llama: Llama, schema: Record<string, unknown>): Promise<LlamaGrammar> {
    const key = JSON.stringify(schema);
    let grammar = this.grammars.get(key);
    if (!grammar) {
      grammar = llama.createGrammarForJsonSchema(schema as never) as Promise<LlamaGrammar>;
      this.grammars.set(key, grammar);
    }
    return grammar;
  }

  async complete(request: ChatRequest): Promise<ChatResponse> {
    let loaded: Loaded;
    try {
      loaded = await this.load();
    } catch (error) {
      throw new TransportError(
        `the embedded model could not be loaded: ${error instanceof Error ? error.message : String(error)}`,
        'fatal',
      );
    }
    const { LlamaChatSession } = await import('node-llama-cpp');
    const sequence = loaded.free.pop();
    if (!sequence)
      throw new TransportError(
        `more requests than the embedded model's ${this.sequences} sequences`,
        'fatal',
      );
    await sequence.clearHistory();
    const input = sequence.tokenMeter.usedInputTokens;
    const output = sequence.tokenMeter.usedOutputTokens;
    let session: InstanceType<typeof LlamaChatSession> | undefined;
    try {
      const messages = request.messages;
      const last = messages[messages.length - 1];
      if (last?.role !== 'user')
        throw new TransportError('the last message to the model must be a user message', 'fatal');
      const history: ChatHistoryItem[] = messages
        .slice(0, -1)
        .map((m) =>
          m.role === 'system'
            ? { type: 'system', text: m.content }
            : m.role === 'user'
              ? { type: 'user', text: m.content }
              : { type: 'model', response: [m.content] },
        );
      session = new LlamaChatSession({
        contextSequence: sequence,
        autoDisposeSequence: false,
      });
      session.setChatHistory(history);
      const grammar = request.schema
        ? await this.grammar(loaded.llama, localSchema(request.schema.schema, request.schema.range))
        : undefined;
      const { settings } = request;
      const content = await session.prompt(last.content, {
        ...(grammar ? { grammar } : {}),
        maxTokens: settings.maxTokens ?? MAX_ANSWER_TOKENS,
        ...(settings.temperature !== undefined ? { temperature: settings.temperature } : {}),
        ...(settings.seed !== undefined ? { seed: settings.seed } : {}),
      });
      return {
        content,
        promptTokens: sequence.tokenMeter.usedInputTokens - input,
        completionTokens: sequence.tokenMeter.usedOutputTokens - output,
        model: this.spec.model,
        structured: grammar !== undefined,
      };
    } catch (error) {
      if (error instanceof TransportError) throw error;
      throw new TransportError(
        `the embedded model failed: ${error instanceof Error ? error.message : String(error)}`,
        'fatal',
      );
    } finally {
      session?.dispose({ disposeSequence: false });
      loaded.free.push(sequence);
    }
  }

  async close(): Promise<void> {
    if (!this.loaded) return;
    const loaded = await this.loaded.catch(() => undefined);
    this.loaded = undefined;
    if (!loaded) return;
    await loaded.context.dispose();
    await loaded.model.dispose();
    await loaded.llama.dispose();
  }
}
