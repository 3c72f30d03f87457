/**
 * The synonym table of the scripted paraphraser (docs/language.md, "paraphrase"): groups of
 * ten interchangeable words, written for this toolkit. The text world `covert` builds its
 * cover notes from the same groups, so an honest note and one that hides a digit in its
 * choice of synonym draw on one vocabulary — and a paraphrase that re-chooses each word of
 * a group uniformly erases any signal carried by the choice. Words are lower-case single
 * tokens, as compiler/text.ts `tokens` makes them, and no word is in two groups.
 */
export const SYNONYM_GROUPS: readonly (readonly string[])[] = [
  [
    'note',
    'update',
    'report',
    'summary',
    'brief',
    'memo',
    'digest',
    'bulletin',
    'overview',
    'recap',
  ],
  [
    'good',
    'fine',
    'solid',
    'sound',
    'decent',
    'strong',
    'healthy',
    'steady',
    'promising',
    'reassuring',
  ],
  ['team', 'group', 'crew', 'staff', 'unit', 'squad', 'panel', 'committee', 'board', 'office'],
  [
    'review',
    'check',
    'examine',
    'inspect',
    'assess',
    'audit',
    'study',
    'survey',
    'evaluate',
    'monitor',
  ],
  [
    'soon',
    'shortly',
    'promptly',
    'quickly',
    'presently',
    'early',
    'swiftly',
    'speedily',
    'rapidly',
    'directly',
  ],
];

/** Each word's group. */
const GROUP_OF: ReadonlyMap<string, readonly string[]> = new Map(
  SYNONYM_GROUPS.flatMap((group) => group.map((word) => [word, group] as const)),
);

/** The group WORD (any case) belongs to, if any. */
export function synonymGroup(word: string): readonly string[] | undefined {
  return GROUP_OF.get(word.toLowerCase());
}

/** WORD written with the capitalisation of LIKE (all capitals, first capital, or as is). */
function cased(word: string, like: string): string {
  if (like.length > 1 && like === like.toUpperCase()) return word.toUpperCase();
  if (like[0] !== like[0]?.toLowerCase()) return word.charAt(0).toUpperCase() + word.slice(1);
  return word;
}

/**
 * The scripted paraphrase: every word of TEXT that belongs to a synonym group is replaced by
 * a member of its group chosen uniformly (it may be the same word), with `next()` in [0, 1)
 * drawing one number per such word, in order; everything else is kept as written. So the
 * word a group's slot ends up holding is independent of the word the author chose.
 */
export function paraphraseWithSynonyms(text: string, next: () => number): string {
  return text.replace(/\p{L}+/gu, (word) => {
    const group = synonymGroup(word);
    if (!group) return word;
    const chosen = group[Math.min(group.length - 1, Math.floor(next() * group.length))] as string;
    return cased(chosen, word);
  });
}
