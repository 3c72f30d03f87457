import OpenAI from 'openai';
import { Agent, request as undiciRequest } from 'undici';
import {
  type ChatClient,
  type ChatRequest,
  type ChatResponse,
  retryAfterMs,
  TransportError,
} from './client.js';
import { scrubSecrets } from './secrets.js';
import type { ModelSpec } from './spec.js';

export interface OpenAIClientOptions {
  /** The API key, read by the caller from the environment variable the config names. */
  readonly apiKey?: string;
  /** Per-request timeout (default 30 s). */
  readonly timeoutMs?: number;
}

export const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * Any OpenAI-compatible chat-completions endpoint through the `openai` package. The
 * package's own retries are off: retries are a layer of ours, so each is a trace event.
 * Structured output (`response_format` with the answer's JSON schema) is asked for until
 * the endpoint refuses it with a 400 that names it; then this client asks without it.
 */
export class OpenAIChatClient implements ChatClient {
  readonly id: string;
  private readonly sdk: OpenAI;
  /** Keep-alive connections to the endpoint, shared by every request of the run. */
  private readonly connections = new Agent({ connections: null });
  private structuredRefused = false;
  /** The key, only to take it out of error messages (an endpoint may quote it back). */
  private readonly secrets: readonly string[];

  constructor(
    private readonly spec: ModelSpec,
    options: OpenAIClientOptions = {},
  ) {
    this.id = spec.text;
    this.secrets = options.apiKey ? [options.apiKey] : [];
    this.sdk = new OpenAI({
      // The package insists on a key; without one, no Authorization header is sent at all.
      apiKey: options.apiKey ?? 'unset',
      ...(options.apiKey ? {} : { defaultHeaders: { Authorization: null } }),
      baseURL: spec.baseURL,
      maxRetries: 0,
      timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      fetch: pooledFetch(this.connections),
    });
  }

  async close(): Promise<void> {
    await this.connections.close();
  }

  async complete(request: ChatRequest): Promise<ChatResponse> {
    const structured = request.schema !== undefined && !this.structuredRefused;
    try {
      return await this.send(request, structured);
    } catch (error) {
      if (structured && refusesSchema(error)) {
        this.structuredRefused = true;
        return this.complete(request);
      }
      throw asTransportError(error, this.secrets);
    }
  }

  private async send(request: ChatRequest, structured: boolean): Promise<ChatResponse> {
    const { settings } = request;
    const completion = await this.sdk.chat.completions.create({
      model: this.spec.model,
      messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
      ...(settings.temperature !== undefined ? { temperature: settings.temperature } : {}),
      ...(settings.maxTokens !== undefined ? { max_tokens: settings.maxTokens } : {}),
      ...(settings.seed !== undefined ? { seed: settings.seed } : {}),
      ...(structured && request.schema
        ? {
            response_format: {
              type: 'json_schema' as const,
              json_schema: {
                name: request.schema.name,
                schema: request.schema.schema,
                strict: true,
              },
            },
          }
        : {}),
    });
    // The package gives back whatever a 200 held: text for a body that is not JSON (an HTML
    // error page), any JSON at all. Only a chat completion is an answer.
    if (typeof completion !== 'object' || completion === null || !Array.isArray(completion.choices))
      throw new TransportError(
        `the endpoint's answer is not a chat completion: ${preview(completion)}`,
        'bad_body',
      );
    const choice = completion.choices[0];
    return {
      content: choice?.message?.content ?? '',
      promptTokens: completion.usage?.prompt_tokens ?? 0,
      completionTokens: completion.usage?.completion_tokens ?? 0,
      ...(completion.model ? { model: completion.model } : {}),
      ...(completion.system_fingerprint
        ? { systemFingerprint: completion.system_fingerprint }
        : {}),
      structured,
    };
  }
}

/** A 400 whose message names structured output: the endpoint does not support it. */
function refusesSchema(error: unknown): boolean {
  return (
    error instanceof OpenAI.APIError &&
    error.status === 400 &&
    /response_format|json_schema|structured/i.test(error.message)
  );
}

/** The start of a body, for a message: enough to tell an HTML page from cut-off JSON. */
function preview(body: unknown): string {
  const text = typeof body === 'string' ? body : (JSON.stringify(body) ?? String(body));
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 120 ? `${flat.slice(0, 120)}…` : flat === '' ? '(empty)' : flat;
}

/** The package's errors as the causes the retry layer knows, with any key taken out. */
export function asTransportError(error: unknown, secrets: readonly string[] = []): TransportError {
  const clean = (message: string) => scrubSecrets(message, secrets);
  if (error instanceof TransportError) {
    const message = clean(error.message);
    return message === error.message
      ? error
      : new TransportError(message, error.fault, error.status, error.retryAfterMs);
  }
  // A 200 whose body the package could not parse as the JSON its type promised (cut short,
  // or an HTML page sent as application/json): a bad answer, worth another attempt.
  if (error instanceof SyntaxError)
    return new TransportError(
      clean(`the endpoint's answer is not JSON: ${error.message}`),
      'bad_body',
    );
  if (error instanceof OpenAI.APIConnectionTimeoutError)
    return new TransportError('the request timed out', 'timeout');
  if (error instanceof OpenAI.APIConnectionError)
    return new TransportError(clean(`the connection failed: ${error.message}`), 'reset');
  if (error instanceof OpenAI.APIError) {
    const status = error.status;
    const after = retryAfterMs((name) => error.headers?.get(name), Date.now);
    if (status === 429) return new TransportError('rate limited (429)', '429', status, after);
    if (status !== undefined && status >= 500)
      return new TransportError(`the endpoint failed (${status})`, '5xx', status, after);
    return new TransportError(
      clean(`the endpoint refused the request (${status ?? 'no status'}): ${error.message}`),
      'fatal',
      status,
    );
  }
  return new TransportError(clean(error instanceof Error ? error.message : String(error)), 'fatal');
}

/**
 * A `fetch` for the openai package on undici's `request` over a keep-alive pool: the same
 * HTTP, without the WHATWG streams of the built-in fetch, which cost more than the request
 * itself when a round asks a hundred firms at once (docs/benchmarks.md, "plain fetches").
 * Answers are read whole (chat completions are not streamed here). Bodies other than text
 * or bytes go through the built-in fetch.
 */
export function pooledFetch(dispatcher: Agent): typeof fetch {
  return async (input, init = {}) => {
    const url = input instanceof Request ? input.url : String(input);
    const body = init.body;
    if (
      input instanceof Request ||
      !(body == null || typeof body === 'string' || body instanceof Uint8Array)
    )
      return fetch(input, init);
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, name) => {
      headers[name] = value;
    });
    let answer: Awaited<ReturnType<typeof undiciRequest>>;
    let bytes: Uint8Array;
    try {
      answer = await undiciRequest(url, {
        method: (init.method ?? 'GET') as 'GET',
        headers,
        body: body ?? null,
        signal: init.signal ?? null,
        dispatcher,
      });
      bytes = new Uint8Array(await answer.body.arrayBuffer());
    } catch (error) {
      // As the built-in fetch does: an abort is an AbortError, anything else a TypeError
      // (the openai package tells timeouts and failed connections apart by these).
      if (init.signal?.aborted)
        throw init.signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
      throw new TypeError('fetch failed', { cause: error });
    }
    const responseHeaders = new Headers();
    for (const [name, value] of Object.entries(answer.headers)) {
      if (Array.isArray(value)) for (const v of value) responseHeaders.append(name, v);
      else if (value !== undefined) responseHeaders.set(name, value);
    }
    const empty = answer.statusCode === 204 || answer.statusCode === 304;
    return new BufferedResponse(
      empty ? null : bytes,
      answer.statusCode,
      responseHeaders,
      url,
    ) as unknown as Response;
  };
}

/**
 * An answer read whole, with the part of the `Response` interface the openai package and
 * callers use (status, headers, `json`, `text`, `arrayBuffer`, `clone`; a body read once).
 * The built-in `Response` would wrap the bytes in a WHATWG stream only for them to be read
 * back at once; the stream is made only if `body` is asked for.
 */
class BufferedResponse {
  readonly statusText = '';
  readonly redirected = false;
  readonly type = 'basic';
  private used = false;

  constructor(
    private readonly bytes: Uint8Array | null,
    readonly status: number,
    readonly headers: Headers,
    readonly url: string,
  ) {}

  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  get bodyUsed(): boolean {
    return this.used;
  }

  get body(): ReadableStream<Uint8Array> | null {
    return this.bytes === null ? null : new Response(this.bytes).body;
  }

  private read(): Uint8Array {
    if (this.used) throw new TypeError('Body is unusable: Body has already been read');
    this.used = true;
    return this.bytes ?? new Uint8Array(0);
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = this.read();
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }

  async text(): Promise<string> {
    return new TextDecoder().decode(this.read());
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  clone(): BufferedResponse {
    if (this.used) throw new TypeError('Response.clone: Body has already been consumed.');
    return new BufferedResponse(this.bytes, this.status, this.headers, this.url);
  }
}
