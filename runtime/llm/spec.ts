/**
 * Model specs: how a model is named on the command line and in the language.
 *
 * - `openai:MODEL` — OpenAI's API (`https://api.openai.com/v1`);
 * - `openai-compatible:URL#MODEL` — any endpoint that speaks OpenAI's chat-completions
 *   protocol: vLLM, Ollama, llama.cpp's server, OpenRouter, a test server;
 * - `local` or `local:PATH` — the embedded model (a GGUF file run in-process).
 *
 * Generation settings (temperature, max tokens, seed) and the name of the environment
 * variable that holds the API key travel with the spec; the key itself never does.
 */

export type Provider = 'openai' | 'openai-compatible' | 'local';

export interface ModelSpec {
  readonly provider: Provider;
  /** The model id sent to the endpoint (for `local`, the file's name). */
  readonly model: string;
  /** The endpoint's base URL (…/v1), for the two OpenAI providers. */
  readonly baseURL?: string;
  /** A GGUF file, for `local` given a path. */
  readonly path?: string;
  /** The spec as written: what the trace and the manifest name. */
  readonly text: string;
}

export interface GenerationSettings {
  readonly temperature?: number;
  readonly maxTokens?: number;
  readonly seed?: number;
}

export const OPENAI_BASE_URL = 'https://api.openai.com/v1';
export const DEFAULT_API_KEY_ENV = 'OPENAI_API_KEY';

/** A spec that cannot be understood: the message is for the user. */
export class ModelSpecError extends Error {
  override name = 'ModelSpecError';
}

const EXAMPLES =
  'openai:gpt-4o-mini, openai-compatible:http://127.0.0.1:8000/v1#qwen2.5-7b, or local';

export function parseModelSpec(text: string): ModelSpec {
  const spec = text.trim();
  if (spec === 'local') return { provider: 'local', model: 'local', text: spec };
  const colon = spec.indexOf(':');
  const scheme = colon < 0 ? spec : spec.slice(0, colon);
  const rest = colon < 0 ? '' : spec.slice(colon + 1);
  switch (scheme) {
    case 'local': {
      if (rest === '') throw new ModelSpecError('`local:` needs a path to a .gguf file');
      const name = rest.split(/[\\/]/).pop() ?? rest;
      return { provider: 'local', model: name, path: rest, text: spec };
    }
    case 'openai': {
      if (rest === '' || /\s/.test(rest))
        throw new ModelSpecError(`\`openai:\` needs a model id, e.g. openai:gpt-4o-mini`);
      return { provider: 'openai', model: rest, baseURL: OPENAI_BASE_URL, text: spec };
    }
    case 'openai-compatible': {
      const hash = rest.lastIndexOf('#');
      const url = hash < 0 ? rest : rest.slice(0, hash);
      const model = hash < 0 ? '' : rest.slice(hash + 1);
      if (model === '')
        throw new ModelSpecError(
          '`openai-compatible:` needs a URL and a model id: openai-compatible:http://127.0.0.1:8000/v1#MODEL',
        );
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw new ModelSpecError(
          `\`${url}\` is not a URL (expected e.g. http://127.0.0.1:8000/v1)`,
        );
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
        throw new ModelSpecError(`the endpoint must be http or https, not ${parsed.protocol}`);
      if (parsed.username || parsed.password)
        throw new ModelSpecError(
          'put no credentials in the URL: the key comes from an environment variable',
        );
      return {
        provider: 'openai-compatible',
        model,
        baseURL: url.replace(/\/+$/, ''),
        text: spec,
      };
    }
    default:
      throw new ModelSpecError(`unknown model \`${spec}\`; expected ${EXAMPLES}`);
  }
}

/** The endpoint's host, for provenance (never the full URL's query or credentials). */
export function endpointHost(spec: ModelSpec): string | null {
  if (!spec.baseURL) return null;
  try {
    return new URL(spec.baseURL).host;
  } catch {
    return null;
  }
}
