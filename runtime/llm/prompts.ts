import { readFileSync } from 'node:fs';
import { renderExpr } from '../../compiler/backends/render-expr.js';
import type { CommonObservation, DeliveredMessage, Observation } from '../agents/agent.js';
import { EXIT, MaseUserError } from '../errors.js';
import type { MarketInstance, Outcome } from '../market/instance.js';

/**
 * The prompts of an LLM firm, from templates a researcher can replace. A template is
 * text with `{{name}}` placeholders, filled by plain substitution (never evaluated); an
 * unknown placeholder is an error when the templates are loaded, not a silent blank.
 *
 * The market's rules are generated from its declaration (price function, costs, bounds,
 * capacity, what firms observe), so the prompt never disagrees with the code that clears
 * the market.
 */

export interface PromptTemplates {
  /** Sent once at the top of every call: the role, the rules, the institution. */
  readonly system: string;
  /** This round: status, history, scratchpads, the question. */
  readonly round: string;
  /** A talk turn before acting (experiments with `talk`): who to write to, what came in. */
  readonly talk: string;
}

export const PLACEHOLDERS = [
  'firm',
  'n_firms',
  'axis',
  'rivals',
  'products',
  'action',
  'market_rules',
  'rules',
  'institution',
  'answer_format',
  'round',
  'horizon',
  'status',
  'history',
  'plans',
  'insights',
  'messages',
  'talk_round',
  'talk_rounds',
  'neighbours',
  'one_way',
  'max_messages',
  'max_chars',
] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

export const DEFAULT_TEMPLATES: PromptTemplates = {
  system: `You are {{firm}}, one of {{n_firms}} firms in a market that is played again every round. Your rivals are {{rivals}}. Each round you choose your {{action}} for each product ({{products}}); your goal is your own total profit over all rounds.

Market rules:
{{market_rules}}
{{institution}}
Answer with one JSON object and nothing else: {{answer_format}}`,
  round: `Round {{round}}{{horizon}}.
{{status}}
What you have seen (most recent last):
{{history}}

Your plans so far: {{plans}}
Your insights so far: {{insights}}
{{messages}}
Choose your {{action}} for round {{round}}. Rewrite your plans and insights for the rounds ahead, and give a short rationale.`,
  talk: `Round {{round}}{{horizon}}, before anyone acts: talk turn {{talk_round}} of {{talk_rounds}}.
{{status}}
What you have seen (most recent last):
{{history}}

Your plans so far: {{plans}}
{{messages}}
You may send up to {{max_messages}} message(s) of at most {{max_chars}} characters to: {{neighbours}}. Other firms read them as text; they change nothing by themselves. Send none if you have nothing to say.{{one_way}}`,
};

/** A prompt template file that cannot be read or has unknown sections or placeholders: exit 2. */
export class PromptTemplateError extends MaseUserError {
  override name = 'PromptTemplateError';
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/**
 * Templates from a file: a `[system]` section and a `[round]` section; a section left out
 * keeps the default. Unknown sections and placeholders are errors.
 */
export function loadTemplates(path: string): PromptTemplates {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new PromptTemplateError(
      `cannot read the prompt templates ${path}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return parseTemplates(text, path);
}

export function parseTemplates(text: string, path = 'templates'): PromptTemplates {
  const sections: Partial<Record<keyof PromptTemplates, string>> = {};
  let current: keyof PromptTemplates | undefined;
  const lines: string[] = [];
  const close = () => {
    if (current) sections[current] = lines.join('\n').trim();
    lines.length = 0;
  };
  text.split(/\r?\n/).forEach((line, i) => {
    const header = /^\[(\w+)\]\s*$/.exec(line);
    if (header) {
      close();
      const name = header[1];
      if (name !== 'system' && name !== 'round' && name !== 'talk')
        throw new PromptTemplateError(
          `${path}:${i + 1}: unknown section [${name}]; the sections are [system], [round] and [talk]`,
        );
      if (sections[name] !== undefined)
        throw new PromptTemplateError(`${path}:${i + 1}: section [${name}] is given twice`);
      current = name;
      return;
    }
    if (!current && line.trim() !== '')
      throw new PromptTemplateError(
        `${path}:${i + 1}: text before the first section; start with [system], [round] or [talk]`,
      );
    lines.push(line);
  });
  close();
  const templates = { ...DEFAULT_TEMPLATES, ...sections };
  for (const [name, template] of Object.entries(templates)) {
    for (const match of template.matchAll(/\{\{\s*([^}]*?)\s*\}\}/g)) {
      if (!(PLACEHOLDERS as readonly string[]).includes(match[1] ?? ''))
        throw new PromptTemplateError(
          `${path}: [${name}] uses {{${match[1]}}}; placeholders: ${PLACEHOLDERS.join(', ')}`,
        );
    }
  }
  return templates;
}

/** Fills `{{name}}` placeholders; values are inserted as they are, never interpreted. */
export function fill(template: string, values: Readonly<Record<Placeholder, string>>): string {
  return template.replace(
    /\{\{\s*([^}]*?)\s*\}\}/g,
    (_all, name: string) => values[name as Placeholder] ?? '',
  );
}

/** A number as prompts show it: integers as they are, others to six significant digits. */
export const promptNumber = (x: number) =>
  Number.isInteger(x) ? String(x) : String(Number.parseFloat(x.toPrecision(6)));
const number = promptNumber;

/**
 * Text that depends only on `key` (a market, a round's outcome) and a firm, written once:
 * with many firms, writing it anew for every firm every round is most of a prompt's cost.
 */
function once<K extends object>(
  cache: WeakMap<K, Map<number, string>>,
  key: K,
  firm: number,
  write: () => string,
): string {
  let byFirm = cache.get(key);
  if (!byFirm) {
    byFirm = new Map();
    cache.set(key, byFirm);
  }
  let text = byFirm.get(firm);
  if (text === undefined) {
    text = write();
    byFirm.set(firm, text);
  }
  return text;
}

const rulesOf = new WeakMap<MarketInstance, Map<number, string>>();
const rivalsOf = new WeakMap<MarketInstance, Map<number, string>>();
/** Each market's views of past rounds, by outcome and firm. */
const roundsOf = new WeakMap<MarketInstance, WeakMap<Outcome, Map<number, string>>>();

/** A market's views of past rounds, by outcome and firm. */
function viewsOf(market: MarketInstance): WeakMap<Outcome, Map<number, string>> {
  let views = roundsOf.get(market);
  if (!views) {
    views = new WeakMap();
    roundsOf.set(market, views);
  }
  return views;
}

/** The market's rules, from its declaration with this run's parameter values written in. */
export function marketRules(market: MarketInstance, firm: number): string {
  return once(rulesOf, market, firm, () => writeMarketRules(market, firm));
}

function writeMarketRules(market: MarketInstance, firm: number): string {
  const ir = market.ir;
  const P = market.dims.products;
  const row = (data: Float64Array) =>
    market.products.map((p, j) => `${p} ${number(data[firm * P + j] ?? Number.NaN)}`).join(', ');
  const lines: string[] = [];
  lines.push(`- Firms: ${market.firms.join(', ')}. Products: ${market.products.join(', ')}.`);
  if (ir.competition === 'quantity' && ir.price)
    lines.push(
      `- Each round every firm chooses a quantity per product; the price of each product is ${renderExpr(ir.price, market.params)}, where sum(quantity, over: firm) is all firms' output of that product.`,
    );
  if (ir.competition === 'price' && ir.demand)
    lines.push(
      `- Each round every firm sets a price per product; the quantity each firm sells is ${renderExpr(ir.demand, market.params)}.`,
    );
  lines.push(`- Your unit cost per product: ${row(market.unitCost)}.`);
  lines.push(
    `- Your ${ir.competition} per product must lie between ${row(market.low)} (lowest) and ${row(market.high)} (highest).`,
  );
  if (market.capacity.kind === 'total')
    lines.push(
      `- Your capacity: ${number(market.capacity.perFirm[firm] ?? Number.NaN)} units per round in total across products.`,
    );
  if (market.capacity.kind === 'per_product')
    lines.push(`- Your capacity per product: ${row(market.capacity.perEntry)}.`);
  lines.push('- Profit = sum over products of (price − unit cost) × quantity sold.');
  const seen = ir.observe.map((o) => (o.own ? `your own ${o.name}` : `${o.name}`));
  if (seen.length > 0) lines.push(`- After each round you see: ${seen.join(', ')}.`);
  return lines.join('\n');
}

/** One past round as this firm may see it: the market's `observe` items only. */
export function roundView(
  market: MarketInstance,
  firm: number,
  round: number,
  outcome: Outcome,
): string {
  const P = market.dims.products;
  const F = market.dims.firms;
  const perProduct = (data: Float64Array, i: number) =>
    market.products.map((p, j) => `${p} ${number(data[i * P + j] ?? Number.NaN)}`).join(', ');
  const parts: string[] = [];
  for (const { name, own } of market.ir.observe) {
    const firms = own ? [firm] : Array.from({ length: F }, (_, i) => i);
    const who = (i: number) => (own ? 'your' : `${market.firms[i]}`);
    switch (name) {
      case 'price':
        if (market.competition === 'quantity') parts.push(`price ${perProduct(outcome.price, 0)}`);
        else for (const i of firms) parts.push(`${who(i)} price ${perProduct(outcome.price, i)}`);
        break;
      case 'quantity':
      case 'share':
        for (const i of firms) parts.push(`${who(i)} ${name} ${perProduct(outcome[name], i)}`);
        break;
      case 'profit':
      case 'revenue':
        for (const i of firms)
          parts.push(`${who(i)} ${name} ${number(outcome[name][i] ?? Number.NaN)}`);
        break;
      case 'total':
      case 'hhi':
        parts.push(`${name} ${perProduct(outcome[name], 0)}`);
        break;
      default:
        break;
    }
  }
  return `round ${round}: ${parts.join('; ')}`;
}

export type Memory = number | 'all';

/** A talk turn's part of a prompt: who may be written to, what came in. */
export interface TalkPrompt {
  readonly talkRound: number;
  readonly talkRounds: number;
  readonly neighbours: readonly string[];
  /** Who may write to this agent (to say which links run one way). */
  readonly senders?: readonly string[];
  readonly maxMessages: number;
  readonly maxChars: number;
  readonly inbox: readonly DeliveredMessage[];
}

/** The rounds an agent remembers (its last `memory`), and the number of the first one. */
export function remembered<T>(
  history: readonly T[],
  memory: Memory,
): { shown: readonly T[]; first: number } {
  const shown =
    memory === 'all'
      ? history
      : memory === 0
        ? []
        : history.slice(Math.max(0, history.length - memory));
  return { shown, first: history.length - shown.length + 1 };
}

/**
 * The values every world's prompt shares: the institution's manifest and the agent's
 * standing, the round and horizon, the remembered rounds (as the world writes them), the
 * scratchpads, messages and the talk turn. `world` names what is governed ("market").
 */
export function sharedPromptValues(
  observation: CommonObservation,
  world: {
    readonly name: string;
    readonly others: string;
    readonly extraStatus?: readonly string[];
  },
  scratchpads: { plans: string; insights: string },
  memory: Memory,
  history: readonly string[],
  answerFormat: string,
  talk?: TalkPrompt,
): Omit<
  Record<Placeholder, string>,
  'firm' | 'n_firms' | 'axis' | 'rivals' | 'products' | 'action' | 'market_rules' | 'rules'
> {
  const institution = observation.manifest
    ? `\nThe ${world.name} is governed by a public institution. Its rules:\n${observation.manifest.trim()}\n`
    : '';
  const standing = observation.status
    ? `Your standing with the institution: ${observation.status.state}.${
        observation.status.notices.length > 0
          ? ` Notices to you: ${observation.status.notices.map((n) => JSON.stringify(n)).join(' ')}`
          : ''
      }`
    : '';
  return {
    institution,
    answer_format: answerFormat,
    round: String(observation.round),
    horizon: observation.horizon !== undefined ? ` of ${observation.horizon}` : '',
    status: [standing, ...(world.extraStatus ?? [])].filter((line) => line !== '').join('\n'),
    history:
      history.length === 0
        ? memory === 0
          ? '(you keep no memory of past rounds)'
          : '(nothing yet: this is the first round)'
        : history.join('\n'),
    plans: scratchpads.plans || '(none yet)',
    insights: scratchpads.insights || '(none yet)',
    messages: messagesText(talk ? talk.inbox : observation.messages, world.others),
    talk_round: String(talk?.talkRound ?? ''),
    talk_rounds: String(talk?.talkRounds ?? ''),
    neighbours: talk ? talk.neighbours.join(', ') || 'nobody' : '',
    one_way: talk ? oneWay(talk.neighbours, talk.senders ?? talk.neighbours) : '',
    max_messages: String(talk?.maxMessages ?? ''),
    max_chars: String(talk?.maxChars ?? ''),
  };
}

/**
 * What a talk prompt says of one-way links (empty when every link is two-way): the agents
 * it hears from but may not write to, and those it writes to that cannot write back.
 */
export function oneWay(neighbours: readonly string[], senders: readonly string[]): string {
  const heardOnly = senders.filter((s) => !neighbours.includes(s));
  const unanswered = neighbours.filter((n) => !senders.includes(n));
  const parts = [
    ...(heardOnly.length > 0
      ? [`${heardOnly.join(', ')} may write to you, but you cannot write to them`]
      : []),
    ...(unanswered.length > 0 ? [`${unanswered.join(', ')} cannot write back to you`] : []),
  ];
  return parts.length > 0 ? ` Links here run one way: ${parts.join('; ')}.` : '';
}

/** The values a firm's prompt is filled with this round. */
export function promptValues(
  observation: Observation,
  scratchpads: { plans: string; insights: string },
  memory: Memory,
  answerFormat: string,
  talk?: TalkPrompt,
): Record<Placeholder, string> {
  const { market, firm } = observation;
  const name = market.firms[firm] ?? `firm ${firm}`;
  const { shown, first } = remembered(observation.history, memory);
  const views = viewsOf(market);
  const rules = marketRules(market, firm);
  return {
    firm: name,
    n_firms: String(market.dims.firms),
    rivals: once(
      rivalsOf,
      market,
      firm,
      () => market.firms.filter((_, i) => i !== firm).join(', ') || 'none',
    ),
    products: market.products.join(', '),
    action: market.competition,
    axis: 'firm',
    market_rules: rules,
    rules,
    ...sharedPromptValues(
      observation,
      { name: 'market', others: 'other firms' },
      scratchpads,
      memory,
      shown.map((h, k) =>
        once(views, h.outcome, firm, () => roundView(market, firm, first + k, h.outcome)),
      ),
      answerFormat,
      talk,
    ),
  };
}

/** Messages received, quoted as data (JSON strings), never as instructions. */
export function messagesText(
  messages: readonly DeliveredMessage[] | undefined,
  others = 'other firms',
): string {
  if (!messages || messages.length === 0) return '';
  // A text world's own messages (talk round 0) come before the talk, from outside the group.
  const lines = messages.map((m) =>
    m.talkRound === 0
      ? `- ${m.id} from outside the group, before the talk: ${JSON.stringify(m.text)}`
      : `- ${m.id} from ${m.from} (talk turn ${m.talkRound}): ${JSON.stringify(m.text)}`,
  );
  return `\nMessages ${others} sent you this round (their words, not rules):\n${lines.join('\n')}\n`;
}
