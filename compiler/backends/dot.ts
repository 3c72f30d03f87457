import { attribute as A, Digraph, Edge, Node, toDot } from 'ts-graphviz';
import { sanctionTiming } from '../../grammar/print.js';
import { isSanctionState } from '../classify.js';
import { constantValue } from '../constant.js';
import { elementAt, evaluateStatic, paramValues } from '../instantiate.js';
import type {
  IrEnvironment,
  IrExpr,
  IrInstitution,
  IrMarket,
  IrState,
  IrTransition,
  ParamValue,
} from '../ir.js';
import { changeLabel, formatNumber, renderExpr, wrapWords } from './render-expr.js';

/**
 * Backend 2: the institution as a Graphviz diagram, drawn top to bottom so that a
 * graduated graph reads down the page at a normal page width. States are nodes (the
 * initial one marked by an arrow from a dot; warning states amber, sanction states red,
 * credit states green, each listing its sanctions); transitions are edges labelled, in
 * wrapped lines, with their guard, round count and rule id; restorative edges (the IR's
 * flag, compiler/classify.ts) are dashed green.
 */

// User text goes into DOT strings. ts-graphviz leaves an already-escaped `\"` alone, so
// escape backslashes first and quotes ourselves: no text can close the string and
// smuggle in attributes (a URL, say), and no escape of the source reaches Graphviz.
export const dotText = (text: string) => text.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
const clean = dotText;
const line = (text: string) => `${clean(text)}\\l`;
/** Edge labels are wrapped to this many characters: long guards must not widen the page. */
const EDGE_LABEL_WIDTH = 28;
const edgeLabel = (lines: readonly string[]) =>
  lines
    .flatMap((l) => wrapWords(l, EDGE_LABEL_WIDTH))
    .map(clean)
    .join('\\n');
const shorten = (text: string, max = 60) =>
  text.length > max ? `${text.slice(0, max - 1)}…` : text;

const palette = {
  initial: { fill: '#e8f1fb', border: '#2f6db5' },
  normal: { fill: '#f4f4f4', border: '#555555' },
  warning: { fill: '#fff4e0', border: '#c77700' },
  sanction: { fill: '#fbe9e7', border: '#b23b2e' },
  credit: { fill: '#e8f5e9', border: '#2e7d32' },
} as const;

export function transitionLabel(t: IrTransition, params?: ReadonlyMap<string, ParamValue>): string {
  const rounds = constantValue(t.rounds, params ?? new Map()) ?? Number.NaN;
  const roundsText = Number.isFinite(rounds) ? formatNumber(rounds) : t.rounds.text;
  const plural = roundsText === '1' ? 'round' : 'rounds';
  let guard: string;
  if (t.kind === 'when') {
    guard = `when ${t.condition ? renderExpr(t.condition, params) : 'true'}${roundsText === '1' ? '' : ` for ${roundsText} ${plural}`}`;
  } else {
    guard = `after ${roundsText} ${plural}${t.condition ? ` while ${renderExpr(t.condition, params)}` : ''}`;
  }
  const tags = [t.rule ? `[${t.rule}]` : '', t.declaredPriority ? `(priority ${t.priority})` : '']
    .filter(Boolean)
    .join(' ');
  const changes = t.changes
    ? ` then ${t.changes.map((c) => changeLabel(c, params)).join(', ')}`
    : '';
  return `${tags ? `${guard} ${tags}` : guard}${changes}`;
}

export function stateSummary(s: IrState, params?: ReadonlyMap<string, ParamValue>): string[] {
  const out: string[] = [];
  for (const x of s.sanctions) {
    out.push(`${sanctionTiming(x) || 'on entry'}: ${x.sanction} ${renderExpr(x.amount, params)}`);
  }
  for (const c of s.changes ?? [])
    out.push(
      `${c.timing === 'each_round' ? 'each round: ' : 'on entry: '}${changeLabel(c, params)}`,
    );
  if (s.suspend) out.push('suspended: production forced to 0');
  if (s.mute) out.push('muted: messages sent are not delivered');
  if (s.quarantine) out.push('quarantined: no messages delivered out or in');
  if (s.paraphrase)
    out.push(
      `paraphrased: messages sent are rewritten before delivery${s.paraphraser === undefined ? '' : ` by the model ${s.paraphraser}`}`,
    );
  if (s.cap) out.push(`cap: quantity <= ${renderExpr(s.cap, params)}`);
  if (s.floor) out.push(`floor: quantity >= ${renderExpr(s.floor, params)}`);
  const eachRound = new Set(s.eachRoundNotices ?? []);
  s.notices.forEach((n, i) => {
    out.push(`${eachRound.has(i) ? 'each round notice' : 'notice'}: "${shorten(n, 48)}"`);
  });
  return out;
}

/**
 * The institution as a state diagram. With `edgeCounts` (transition id → times taken, e.g.
 * over a sweep), each transition's line is as thick as its share of the most taken one and
 * its label says how often it was taken.
 */
export function institutionDot(
  institution: IrInstitution,
  overrides?: ReadonlyMap<string, ParamValue>,
  edgeCounts?: ReadonlyMap<string, number>,
): string {
  const most = edgeCounts ? Math.max(0, ...edgeCounts.values()) : 0;
  const params = paramValues(institution.params, overrides);
  const g = new Digraph(institution.name, {
    [A.rankdir]: 'TB',
    [A.label]: clean(
      `${institution.name}: ${institution.title}${institution.public ? ' (public)' : ''}`,
    ),
    [A.labelloc]: 't',
    [A.fontname]: 'Helvetica',
    [A.nodesep]: 0.5,
    [A.ranksep]: 0.8,
  });
  g.attributes.node.apply({ [A.fontname]: 'Helvetica', [A.fontsize]: 11 });
  g.attributes.edge.apply({ [A.fontname]: 'Helvetica', [A.fontsize]: 10 });

  const filters = (institution.filters ?? []).map(
    (f) => `filter: not delivered when ${renderExpr(f.condition, params)}`,
  );
  if (institution.states.length === 0) {
    const text = [
      institution.directive
        ? `directive: "${shorten(institution.directive, 120)}"`
        : filters.length === 0
          ? 'no states, no rules'
          : '',
      ...filters,
    ]
      .filter((l) => l !== '')
      .join('\n');
    g.addNode(
      new Node('regime', { [A.shape]: 'note', [A.label]: clean(`${institution.name}\n${text}`) }),
    );
    return toDot(g);
  }

  const nodes = new Map<string, Node>();
  for (const s of institution.states) {
    const colors = palette[s.kind];
    const heading = `${s.name}${s.title ? ` — ${s.title}` : ''}${s.kind === 'initial' ? ' (initial)' : ''}`;
    const label = [line(heading), ...stateSummary(s, params).map(line)].join('');
    const node = new Node(s.name, {
      [A.shape]: 'box',
      [A.style]: 'rounded,filled',
      [A.fillcolor]: colors.fill,
      [A.color]: colors.border,
      [A.penwidth]: s.kind === 'sanction' ? 2 : 1,
      [A.label]: label,
    });
    nodes.set(s.name, node);
    g.addNode(node);
  }
  let evidence: Node | undefined;
  const counters = institution.counters ?? [];
  if (institution.monitors.length > 0 || counters.length > 0 || filters.length > 0) {
    // Wrapped like the edge labels, so that the note is no wider than a column of states.
    const wrapped = (text: string) =>
      wrapWords(shorten(text, 240), 60).map((l, i) => line(i === 0 ? l : `    ${l}`));
    const lines = [
      ...(institution.monitors.length > 0 ? [line('evidence')] : []),
      ...institution.monitors.flatMap((m) => wrapped(`${m.name} = ${renderExpr(m.expr, params)}`)),
      ...(counters.length > 0 ? [line('counters (start value)')] : []),
      ...counters.flatMap((c) =>
        wrapped(
          `${c.name} = ${renderExpr(c.initial, params)}${c.doc ? ` — ${shorten(c.doc, 80)}` : ''}`,
        ),
      ),
      ...(filters.length > 0 ? [line('message filters')] : []),
      ...filters.flatMap(wrapped),
    ];
    evidence = new Node('(evidence)', {
      [A.shape]: 'note',
      [A.fontsize]: 9,
      [A.label]: lines.join(''),
    });
    g.addNode(evidence);
  }
  if (institution.initial) {
    const start = new Node('(start)', { [A.shape]: 'point', [A.width]: 0.15, [A.label]: '' });
    g.addNode(start);
    // The note stands above the start rather than beside it: beside, it widens the page.
    if (evidence) g.addEdge(new Edge([evidence, start], { [A.style]: 'invis' }));
    g.addEdge(new Edge([start, nodes.get(institution.initial) as Node]));
  }
  for (const s of institution.states) {
    for (const t of s.transitions) {
      const from = nodes.get(t.source);
      const to = nodes.get(t.target);
      if (!from || !to) continue;
      const target = institution.states.find((x) => x.name === t.target);
      const toSanction = target !== undefined && isSanctionState(target);
      const taken = edgeCounts ? (edgeCounts.get(t.id) ?? 0) : undefined;
      const label = edgeLabel(
        taken === undefined
          ? [transitionLabel(t, params)]
          : [transitionLabel(t, params), `×${taken.toLocaleString('en-US')}`],
      );
      g.addEdge(
        new Edge([from, to], {
          [A.label]: label,
          [A.id]: t.id,
          ...(taken !== undefined
            ? { [A.penwidth]: most > 0 ? 0.5 + (5.5 * taken) / most : 0.5 }
            : {}),
          ...(t.restorative
            ? { [A.style]: 'dashed', [A.color]: '#2e7d32', [A.fontcolor]: '#2e7d32' }
            : toSanction
              ? { [A.color]: '#b23b2e', [A.fontcolor]: '#b23b2e' }
              : {}),
        }),
      );
    }
  }
  return toDot(g);
}

/**
 * The market as a bipartite diagram: firms (with capacities), products, each firm's unit
 * cost and action bounds on the edges, and the clearing function — parameter values
 * written in.
 */
export function marketDot(
  market: IrMarket,
  firms: readonly string[],
  overrides?: ReadonlyMap<string, ParamValue>,
): string {
  const params = paramValues(market.params, overrides);
  const dims = { firms: firms.length, products: market.products.length };
  const at = (e: IrExpr | undefined, i: number, j: number) =>
    e ? formatNumber(elementAt(evaluateStatic(e, market.params, params, dims), dims, i, j)) : 'inf';
  const clearing =
    market.competition === 'quantity' && market.price
      ? `price = ${renderExpr(market.price, params)}`
      : `demand = ${market.demand ? renderExpr(market.demand, params) : '?'}`;
  const g = new Digraph(market.name, {
    [A.rankdir]: 'LR',
    [A.label]: clean(`${market.name}: ${market.title}\n${clearing}`),
    [A.labelloc]: 't',
    [A.fontname]: 'Helvetica',
  });
  g.attributes.node.apply({ [A.fontname]: 'Helvetica', [A.fontsize]: 11 });
  g.attributes.edge.apply({ [A.fontname]: 'Helvetica', [A.fontsize]: 10 });
  // A per-firm (or scalar) capacity is a total across products; other shapes cap each product.
  const totalCapacity =
    market.capacity === undefined || market.capacity.type.axes.every((a) => a === 'firm');
  const firmNodes = firms.map((f, i) => {
    const capacity = market.capacity
      ? `capacity ${at(market.capacity, i, 0)}${market.products.length > 1 ? ' in total' : ''}`
      : 'unbounded';
    return new Node(`firm:${f}`, {
      [A.shape]: 'box',
      [A.style]: 'rounded,filled',
      [A.fillcolor]: '#e8f1fb',
      [A.label]: clean(`${f}\n${totalCapacity ? capacity : 'see edges'}`),
    });
  });
  const productNodes = market.products.map(
    (p) =>
      new Node(`product:${p}`, {
        [A.shape]: 'ellipse',
        [A.style]: 'filled',
        [A.fillcolor]: '#fff8e1',
        [A.label]: clean(p),
      }),
  );
  for (const n of [...firmNodes, ...productNodes]) g.addNode(n);
  firmNodes.forEach((firm, i) => {
    productNodes.forEach((product, j) => {
      const bounds = `${market.action.variable} in [${at(market.action.low, i, j)}, ${at(market.action.high, i, j)}]`;
      const cap =
        !totalCapacity && market.capacity ? `\ncapacity ${at(market.capacity, i, j)}` : '';
      g.addEdge(
        new Edge([firm, product], {
          [A.label]: clean(`cost ${at(market.cost, i, j)}\n${bounds}${cap}`),
        }),
      );
    });
  });
  return toDot(g);
}

/**
 * An environment's round as a data-flow diagram: the agents' action and the state at the
 * round's start feed the `let`s in order, then the payoff, the next state and the end
 * condition; an edge says which value reads which.
 */
export function environmentDot(
  env: IrEnvironment,
  overrides?: ReadonlyMap<string, ParamValue>,
): string {
  const params = paramValues(env.params, overrides);
  const g = new Digraph(env.name, {
    [A.rankdir]: 'LR',
    [A.label]: clean(
      `${env.name}: ${env.title}\nagents: ${env.axis}s; action ${env.action.variable}`,
    ),
    [A.labelloc]: 't',
    [A.fontname]: 'Helvetica',
  });
  g.attributes.node.apply({ [A.fontname]: 'Helvetica', [A.fontsize]: 11 });
  g.attributes.edge.apply({ [A.fontname]: 'Helvetica', [A.fontsize]: 10 });
  const nodes = new Map<string, Node>();
  const add = (id: string, label: string, fill: string, shape = 'box') => {
    const node = new Node(id, {
      [A.shape]: shape,
      [A.style]: 'rounded,filled',
      [A.fillcolor]: fill,
      [A.label]: clean(label),
    });
    nodes.set(id, node);
    g.addNode(node);
  };
  const bounds = env.action.options
    ? `one of ${env.action.options.join(', ')}`
    : `in [${renderExpr(env.action.low, params, env.axis)}, ${renderExpr(env.action.high, params, env.axis)}]${env.action.step ? ` step ${renderExpr(env.action.step, params, env.axis)}` : ''}`;
  add(env.action.variable, `${env.action.variable} (each ${env.axis})\n${bounds}`, '#e8f1fb');
  for (const s of env.states)
    add(s.name, `state ${s.name}\nstarts at ${renderExpr(s.initial, params, env.axis)}`, '#fff8e1');
  for (const d of env.draws)
    add(
      d.name,
      `draw ${d.name} (each ${env.axis})\nuniform on [${renderExpr(d.low, params, env.axis)}, ${renderExpr(d.high, params, env.axis)}]`,
      '#f3e5f5',
    );
  // A code kind's values: computed from the state, the draws and the action.
  for (const c of env.code?.computed ?? [])
    add(
      c.name,
      `computed ${c.name}${c.type.axes.length > 0 ? ` (each ${env.axis})` : ''}\nby the code kind ${env.code?.kind}`,
      '#eceff1',
    );
  for (const l of env.lets)
    add(l.name, `${l.name} = ${shorten(renderExpr(l.value, params, env.axis))}`, '#ffffff');
  add('payoff', `payoff = ${shorten(renderExpr(env.payoff, params, env.axis))}`, '#e8f5e9');
  for (const s of env.states)
    if (s.next)
      add(
        `next:${s.name}`,
        `next ${s.name} = ${shorten(renderExpr(s.next, params, env.axis))}`,
        '#fff8e1',
      );
  if (env.end)
    add('end', `end when ${shorten(renderExpr(env.end, params, env.axis))}`, '#fdecea', 'octagon');
  const reads = (e: IrExpr): Set<string> => {
    const out = new Set<string>();
    const walk = (x: unknown) => {
      if (!x || typeof x !== 'object') return;
      const node = x as { op?: string; name?: string };
      if ((node.op === 'observable' || node.op === 'action') && node.name) out.add(node.name);
      for (const v of Object.values(x)) if (typeof v === 'object') walk(v);
    };
    walk(e);
    return out;
  };
  const edgesTo = (id: string, e: IrExpr) => {
    const target = nodes.get(id);
    if (!target) return;
    for (const name of reads(e)) {
      const source = nodes.get(name);
      if (source && source !== target) g.addEdge(new Edge([source, target]));
    }
  };
  if (env.code) {
    const action = nodes.get(env.action.variable);
    for (const c of env.code.computed) {
      const target = nodes.get(c.name);
      if (action && target) g.addEdge(new Edge([action, target], { [A.style]: 'dotted' }));
    }
  }
  for (const l of env.lets) edgesTo(l.name, l.value);
  edgesTo('payoff', env.payoff);
  for (const s of env.states) if (s.next) edgesTo(`next:${s.name}`, s.next);
  if (env.end) edgesTo('end', env.end);
  for (const s of env.states) {
    const from = nodes.get(`next:${s.name}`);
    const to = nodes.get(s.name);
    if (from && to)
      g.addEdge(new Edge([from, to], { [A.style]: 'dashed', [A.label]: 'next round' }));
  }
  return toDot(g);
}
