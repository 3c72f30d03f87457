import { chrfAgainst, dotText } from '../../compiler/index.js';
import { messagesById, originOf, picturedText } from '../talk/lineage.js';
import type { TraceEventOf } from '../trace/events.js';
import { html, inlineSvg, type Markup } from './html.js';
import { diagramFigure, note, swatch } from './run-report.js';

type MessageEvent = TraceEventOf<'message'>;

/** Messages drawn at most in the lineage graph (the message table lists every one). */
export const MAX_LINEAGE_NODES = 300;
/** Characters of a message's text shown in its node's tooltip. */
const TOOLTIP_CHARS = 200;

/**
 * A Graphviz tooltip reads backslash escapes twice (the DOT string, then its own `\N`,
 * `\G`, `\n`…), unlike a label (once, `dotText`): four backslashes show one, and no text
 * can name the node or the graph. Checked with the system `dot` and the wasm build alike.
 */
const tooltipText = (text: string) => text.replace(/\\/g, '\\\\\\\\').replace(/"/g, '\\"');

/**
 * The colour of a message: chrF of its text against its origin's, in five equal bins of a
 * sequential palette (viridis, dark for far from the origin, light for close to it), with
 * the text colour that reads on each.
 */
export const LINEAGE_BINS = [
  { from: 0, to: 0.2, fill: '#440154', font: '#ffffff' },
  { from: 0.2, to: 0.4, fill: '#3b528b', font: '#ffffff' },
  { from: 0.4, to: 0.6, fill: '#21918c', font: '#ffffff' },
  { from: 0.6, to: 0.8, fill: '#5ec962', font: '#000000' },
  { from: 0.8, to: 1, fill: '#fde725', font: '#000000' },
] as const;

const binOf = (score: number) => LINEAGE_BINS.find((b) => score < b.to) ?? LINEAGE_BINS[4];

/**
 * Each message in a lineage (it names parents, or is named as one) with its similarity to
 * its origin (`originOf`: back through first parents): chrF of the two texts, 1 for an
 * origin. In trace order.
 */
export function lineageScores(
  messages: readonly MessageEvent[],
): { message: MessageEvent; origin: MessageEvent; similarity: number }[] {
  // Most runs' messages name no parents: then there is no lineage to build.
  if (!messages.some((m) => m.parents !== undefined)) return [];
  const byId = messagesById(messages);
  const cited = new Set(messages.flatMap((m) => m.parents ?? []));
  const against = new Map<string, (text: string) => number>();
  return messages
    .filter((m) => m.id !== undefined && ((m.parents?.length ?? 0) > 0 || cited.has(m.id)))
    .map((message) => {
      const origin = originOf(byId, message.id as string);
      if (origin === message) return { message, origin, similarity: 1 };
      let score = against.get(origin.id as string);
      if (!score) {
        score = chrfAgainst(origin.text);
        against.set(origin.id as string, score);
      }
      return { message, origin, similarity: score(message.text) };
    });
}

/**
 * The lineage graph: a node per message in a lineage (labelled `sender round.turn`, coloured
 * by its similarity to its origin), an edge from each parent to its child; a tooltip gives
 * the id, sender → receivers, the text (quoted, shortened) and the similarity. Empty when
 * no message names a parent.
 */
export async function lineageFigure(
  messages: readonly MessageEvent[],
  preferWasm: boolean,
): Promise<Markup | string> {
  const scored = lineageScores(messages);
  if (scored.length === 0) return '';
  const drawn = scored.slice(0, MAX_LINEAGE_NODES);
  const { attribute: A, Digraph, Edge, Node, toDot } = await import('ts-graphviz');
  const g = new Digraph('lineage', { [A.rankdir]: 'LR', [A.fontname]: 'Helvetica' });
  g.attributes.node.apply({
    [A.fontname]: 'Helvetica',
    [A.fontsize]: 10,
    [A.shape]: 'box',
    [A.style]: 'rounded,filled',
  });
  g.attributes.edge.apply({ [A.arrowsize]: 0.6 });
  const nodeOf = new Map(drawn.map(({ message }, i) => [message.id as string, `n${i}`]));
  for (const { message: m, origin, similarity } of drawn) {
    const bin = binOf(similarity);
    const text = m.text.length > TOOLTIP_CHARS ? `${m.text.slice(0, TOOLTIP_CHARS)}…` : m.text;
    g.addNode(
      new Node(nodeOf.get(m.id as string) as string, {
        // Ids first: no label or tooltip can start with `<` and be read as an HTML label.
        [A.label]: dotText(`${m.from} ${m.round}.${m.talk_round}`),
        [A.tooltip]: tooltipText(
          `${m.id} ${m.from} → ${m.to.join(', ') || '(nobody)'}: “${picturedText(text)}” — chrF to ${origin.id} ${similarity.toFixed(2)}`,
        ),
        [A.fillcolor]: bin.fill,
        [A.fontcolor]: bin.font,
      }),
    );
  }
  for (const { message } of drawn)
    for (const parent of message.parents ?? []) {
      const from = nodeOf.get(parent);
      if (from)
        g.addEdge(new Edge([new Node(from), new Node(nodeOf.get(message.id as string) as string)]));
    }
  const legend = html`<p class="legend">Colour: chrF (character n-gram F-score, 0–1; docs/metrics.md) of the message's text against its origin's, the message reached by following first parents back to one that names none (origins are 1): ${LINEAGE_BINS.map(
    (b, i) =>
      html`${swatch(b.fill)}${b.from.toFixed(1)}–${b.to.toFixed(1)}${i < LINEAGE_BINS.length - 1 ? ' ' : ''}`,
  )}. Hover a message for its id, receivers and text.</p>`;
  const shown =
    scored.length > drawn.length
      ? ` The first ${drawn.length} of ${scored.length} messages in a lineage are drawn.`
      : '';
  try {
    const { renderDot } = await import('../render/graphviz.js');
    const rendered = await renderDot(toDot(g), 'svg', { preferWasm });
    const svg = inlineSvg(String(rendered.output));
    if (!('markup' in svg))
      return note(`Lineage omitted: the drawing failed the safety check (${svg.problem}).`);
    return html`<h3>Lineage</h3>${diagramFigure(
      svg.markup,
      `Which message was derived from which: an edge runs from each parent to the message that names it (labels: sender, round.turn).${shown}`,
    )}${legend}`;
  } catch (error) {
    return note(`No lineage graph: ${error instanceof Error ? error.message : String(error)}`);
  }
}
