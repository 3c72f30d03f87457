import type { GenerationSettings } from './spec.js';

/**
 * A chat model behind one small interface. The OpenAI-compatible client and the embedded
 * model implement it; the layers in `layers.ts` (retries, timeouts, concurrency,
 * accounting) wrap any implementation, so each is tested on its own.
 */

export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

export interface ChatRequest {
  readonly messages: readonly ChatMessage[];
  readonly settings: GenerationSettings;
  /** The JSON schema the answer must follow (structured output), with a name for it. */
  readonly schema?: {
    readonly name: string;
    readonly schema: Record<string, unknown>;
    /** The range of the answer's numbers, for grammars that can only list allowed values. */
    readonly range?: { readonly min: number; readonly max: number };
  };
}

export interface ChatResponse {
  /** The answer's text ('' when the model returned none). */
  readonly content: string;
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** The model id the endpoint says answered. */
  readonly model?: string;
  readonly systemFingerprint?: string;
  /** Whether the answer was constrained to the schema (false after an endpoint refused it). */
  readonly structured: boolean;
  /** Whether it came from the response cache rather than the model. */
  readonly cacheHit?: boolean;
  /**
   * The answer's size in UTF-8 bytes when it passed the size limit (`--max-answer-bytes`):
   * `content` is then only its start, and the answer is unusable.
   */
  readonly oversizeBytes?: number;
}

/**
 * Faults worth another attempt, by cause; `fatal` ones (a refused key, a bad request) are
 * not. `bad_body`: a 200 whose body is not a chat completion (not JSON, an HTML error page,
 * a body cut short), which a proxy or an overloaded server gives and a retry may mend.
 */
export type FaultCause = '429' | '5xx' | 'timeout' | 'reset' | 'bad_body';

export class TransportError extends Error {
  override name = 'TransportError';
  constructor(
    message: string,
    readonly fault: FaultCause | 'fatal',
    readonly status?: number,
    /** What the endpoint asked for in `Retry-After` (or `retry-after-ms`), in milliseconds. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export interface ChatClient {
  /** The model spec as written, for traces and errors. */
  readonly id: string;
  complete(request: ChatRequest): Promise<ChatResponse>;
  /** Releases what the client holds (the embedded model's memory). */
  close?(): Promise<void>;
  /** What the model is, when the client knows (the embedded model: its quantisation). */
  readonly description?: string | undefined;
}

/** `Retry-After` is seconds or an HTTP date; `retry-after-ms` is OpenAI's own, in ms. */
export function retryAfterMs(
  header: (name: string) => string | null | undefined,
  now: () => number,
): number | undefined {
  const ms = Number(header('retry-after-ms'));
  if (header('retry-after-ms') && Number.isFinite(ms) && ms >= 0) return ms;
  const value = header('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - now()) : undefined;
}
