import { describe, expect, it } from 'vitest';
import { MIN_SECRET_LENGTH, Scrubber, scrubSecrets } from '../../../runtime/index.js';

/** The scrubber every model text passes through on its way to a file (runtime/llm/secrets.ts). */

describe('the scrubber', () => {
  const key = 'mase-key-0123456789';
  const scrubber = new Scrubber([key, undefined, 'short']);

  it.each([
    ['a configured key anywhere', `plans: remember ${key}!`, 'plans: remember [redacted]!'],
    ['a key twice, inside a word', `x${key}y ${key}`, 'x[redacted]y [redacted]'],
    [
      'a Bearer token',
      'sent Authorization: Bearer abc.DEF-123_x/y=',
      'sent Authorization: Bearer [redacted]',
    ],
    ['an OpenAI-shaped key', 'key sk-proj-AbC123_xyz-987.', 'key sk-[redacted].'],
    ['nothing secret', 'quantity 42, price 63.3', 'quantity 42, price 63.3'],
  ])('takes out %s', (_name, text, expected) => {
    expect(scrubber.scrub(text)).toBe(expected);
  });

  it('leaves keys shorter than the minimum alone, and takes a longer key out whole', () => {
    expect('short'.length).toBeLessThan(MIN_SECRET_LENGTH);
    expect(scrubber.scrub('a short answer')).toBe('a short answer');
    const nested = new Scrubber(['abcdefgh', 'abcdefgh-and-more']);
    expect(nested.scrub('abcdefgh-and-more; abcdefgh')).toBe('[redacted]; [redacted]');
  });

  it('keys added later are taken out too; regex characters in a key are plain text', () => {
    const later = new Scrubber();
    expect(later.scrub('k.e+y(1)*[x]')).toBe('k.e+y(1)*[x]');
    later.add('k.e+y(1)*[x]');
    expect(later.scrub('a k.e+y(1)*[x] b kxe+y(1)*[x]')).toBe('a [redacted] b kxe+y(1)*[x]');
    expect(scrubSecrets(`JSON {"plans":"${key}"}`, [key])).toBe('JSON {"plans":"[redacted]"}');
  });
});
