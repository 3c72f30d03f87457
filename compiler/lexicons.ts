/**
 * The named word lists `lexicon(name)` scores against. Short hand-written lists, written
 * for this toolkit (docs/metrics.md, Text measures): a crude signal of what messages talk
 * about, not a validated instrument. Words are lower-case single tokens, as `tokens` makes them.
 */
export const LEXICONS: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  [
    'collusion',
    new Set([
      'agree',
      'agreed',
      'agreement',
      'cartel',
      'collude',
      'coordinate',
      'coordination',
      'deal',
      'divide',
      'promise',
      'share',
      'split',
      'together',
      'territory',
    ]),
  ],
  [
    'injection',
    new Set([
      'copy',
      'disregard',
      'forward',
      'ignore',
      'instruction',
      'instructions',
      'override',
      'previous',
      'repeat',
      'verbatim',
    ]),
  ],
]);
