/**
 * The scrubber: every text that comes from a model, an endpoint's error message or a header
 * passes through it on its way to the trace, the manifest, stderr or the response cache. It
 * takes out the configured API keys (the values of the variables the model specs name),
 * `Bearer …` tokens and anything shaped like an OpenAI key (`sk-…`), putting `[redacted]`
 * in their place: a model that echoes its key, or an endpoint that quotes the request it
 * refused, leaves no key in any file.
 */

export const REDACTED = '[redacted]';

/**
 * Key values shorter than this are not taken out of texts: a key of a few characters (the
 * `none` or `ollama` local servers accept) would cut ordinary words out of every answer.
 */
export const MIN_SECRET_LENGTH = 8;

/** `Bearer <token>` (an Authorization header quoted back) and OpenAI-shaped keys. */
const TOKEN_PATTERNS = [
  String.raw`\bBearer\s+[A-Za-z0-9._~+/=-]+`,
  String.raw`\bsk-[A-Za-z0-9_-]{6,}`,
];

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** One pattern for every secret and token shape, so a text is scanned once. */
function patternOf(secrets: ReadonlySet<string>): RegExp {
  // Longer secrets first: a key that contains another is taken out whole.
  const values = [...secrets].sort((a, b) => b.length - a.length).map(escapeRegExp);
  return new RegExp([...values, ...TOKEN_PATTERNS].join('|'), 'g');
}

export class Scrubber {
  private readonly secrets = new Set<string>();
  private pattern: RegExp = patternOf(this.secrets);

  constructor(secrets: Iterable<string | undefined> = []) {
    for (const secret of secrets) this.add(secret);
  }

  /** Adds a key value to take out (too short or unset: ignored). */
  add(secret: string | undefined): void {
    if (secret === undefined || secret.length < MIN_SECRET_LENGTH || this.secrets.has(secret))
      return;
    this.secrets.add(secret);
    this.pattern = patternOf(this.secrets);
  }

  /** The text with every secret and token replaced by `[redacted]`. */
  scrub(text: string): string {
    return text.replace(this.pattern, (match) => {
      if (this.secrets.has(match)) return REDACTED;
      if (match.startsWith('sk-')) return `sk-${REDACTED}`;
      return match.startsWith('Bearer') ? `Bearer ${REDACTED}` : REDACTED;
    });
  }
}

/** A one-off scrub with the given secrets (error messages of a client that knows its key). */
export function scrubSecrets(text: string, secrets: Iterable<string | undefined> = []): string {
  return new Scrubber(secrets).scrub(text);
}
