import type {
  Comment,
  CounterChange,
  Declaration,
  EnvironmentItem,
  ExperimentItem,
  Expr,
  FactorDecl,
  FactorLevel,
  InstitutionItem,
  InterventionItem,
  MarketItem,
  Name,
  ObserveItem,
  ParamDecl,
  PolicyRef,
  Range,
  SourceFile,
  StateDecl,
  StateItem,
  SweepItem,
  TransitionOptions,
  TypeAnnotation,
} from '../../grammar/ast.js';
import { escapeString } from '../../grammar/cst-to-ast.js';
import { printArguments, printExpr, sanctionTiming } from '../../grammar/print.js';

/**
 * The canonical text of a parsed file, behind `mase fmt`. The output parses back to
 * the same AST (ranges aside), keeps every comment, and is a fixed point: formatting
 * it again changes nothing.
 */
export function formatSource(file: SourceFile): string {
  const entries: Entry[] = [];
  if (file.version) entries.push({ range: file.version.range, text: `mase ${file.version.value}` });
  for (const item of file.imports ?? [])
    entries.push({ range: item.range, text: `import ${escapeString(item.spec)}`, grouped: true });
  for (const decl of file.declarations) entries.push(declarationEntry(decl));
  const comments = [...file.comments].sort((a, b) => a.range.start.offset - b.range.start.offset);
  const lines: string[] = [];
  printBlock(entries, comments, '', lines, true);
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

const INDENT = '  ';

/**
 * One line-level item of the layout: a leaf printed on a single line, or a block
 * (declaration, state) whose header opens a brace around entries of its own. Building
 * this tree first lets one printer place comments and blank lines for every level.
 */
interface Entry {
  readonly range: Range;
  readonly text: string;
  readonly children?: readonly Entry[];
  /** Consecutive grouped entries (imports) are not forced apart by a blank line. */
  readonly grouped?: boolean;
}

// ---- comment placement --------------------------------------------------------------

interface Placement {
  readonly leading: Comment[][];
  readonly trailing: Comment[][];
  /** Comments inside a block entry, handed down to be placed among its children. */
  readonly inner: Comment[][];
  /** Comments after the last entry: printed before the closing brace (or at file end). */
  readonly dangling: Comment[];
}

function place(entries: readonly Entry[], comments: readonly Comment[]): Placement {
  const leading = entries.map((): Comment[] => []);
  const trailing = entries.map((): Comment[] => []);
  const inner = entries.map((): Comment[] => []);
  const dangling: Comment[] = [];
  for (const comment of comments) {
    const at = comment.range.start.offset;
    const inside = entries.findIndex((e) => e.range.start.offset <= at && at < e.range.end.offset);
    if (inside >= 0) {
      // A comment inside a one-line item cannot stay where it was (the item is printed
      // on one line, and a `//` there would swallow the rest), so it goes above it.
      (entries[inside]?.children ? inner : leading)[inside]?.push(comment);
      continue;
    }
    let before = -1;
    for (let i = 0; i < entries.length; i++) {
      if ((entries[i]?.range.end.offset ?? Number.POSITIVE_INFINITY) <= at) before = i;
    }
    const previous = entries[before];
    if (previous && previous.range.end.line === comment.range.start.line) {
      trailing[before]?.push(comment);
      continue;
    }
    const after = entries.findIndex((e) => e.range.start.offset >= comment.range.end.offset);
    if (after >= 0) leading[after]?.push(comment);
    else dangling.push(comment);
  }
  return { leading, trailing, inner, dangling };
}

/**
 * Prints entries one per line at `indent`. A blank line is kept where the source had
 * at least one between two neighbours; `separate` (the top level) always puts one
 * before each entry together with the comments leading it.
 */
function printBlock(
  entries: readonly Entry[],
  comments: readonly Comment[],
  indent: string,
  out: string[],
  separate: boolean,
): void {
  const { leading, trailing, inner, dangling } = place(entries, comments);
  let previousEnd: number | undefined;
  const emit = (range: Range, endLine: number, text: readonly string[], forceBlank: boolean) => {
    if (previousEnd !== undefined && (forceBlank || range.start.line - previousEnd > 1))
      out.push('');
    out.push(...text);
    previousEnd = endLine;
  };
  const commentLine = (c: Comment) => `${indent}${c.text}`;

  entries.forEach((entry, i) => {
    const before = leading[i] ?? [];
    const apart = separate && !(entry.grouped && entries[i - 1]?.grouped);
    before.forEach((c, k) => {
      emit(c.range, c.range.end.line, [commentLine(c)], apart && k === 0);
    });
    const text = printEntry(entry, inner[i] ?? [], indent);
    const after = trailing[i] ?? [];
    let endLine = entry.range.end.line;
    if (after.length > 0) {
      text[text.length - 1] += `  ${after.map((c) => c.text).join(' ')}`;
      endLine = Math.max(endLine, ...after.map((c) => c.range.end.line));
    }
    emit(entry.range, endLine, text, apart && before.length === 0);
  });
  for (const c of dangling) emit(c.range, c.range.end.line, [commentLine(c)], false);
}

function printEntry(entry: Entry, comments: readonly Comment[], indent: string): string[] {
  if (!entry.children) return [`${indent}${entry.text}`];
  const lines = [`${indent}${entry.text} {`];
  printBlock(entry.children, comments, indent + INDENT, lines, false);
  lines.push(`${indent}}`);
  return lines;
}

// ---- items ------------------------------------------------------------------------------

function title(text: string | undefined): string {
  return text === undefined ? '' : ` ${escapeString(text)}`;
}

function names(list: readonly Name[]): string {
  return list.map((n) => n.name).join(', ');
}

function declarationEntry(decl: Declaration): Entry {
  const text = `${decl.kind} ${decl.name.name}${title(decl.title)}`;
  switch (decl.kind) {
    case 'market':
      return { range: decl.range, text, children: decl.items.map(marketEntry) };
    case 'environment':
      return {
        range: decl.range,
        text,
        children: decl.items.map((item) => ({ range: item.range, text: environmentText(item) })),
      };
    case 'institution':
      return { range: decl.range, text, children: decl.items.map(institutionEntry) };
    case 'experiment':
      return { range: decl.range, text, children: decl.items.map(experimentEntry) };
    case 'sweep':
      return {
        range: decl.range,
        text,
        children: decl.items.map((item) => ({ range: item.range, text: sweepText(item) })),
      };
    case 'intervention':
      return {
        range: decl.range,
        text,
        children: decl.items.map((item) => ({ range: item.range, text: interventionText(item) })),
      };
  }
}

function typeText(type: TypeAnnotation): string {
  // An annotation may be empty (`param x: = 1`); the colon must survive to keep the AST.
  const options = type.options
    ? ` one of ${type.options.map((o) => escapeString(o.value)).join(', ')}`
    : '';
  return `:${type.base ? ` ${type.base}` : ''}${type.list ? ' list' : ''}${options}${type.axes.map((a) => ` per ${a}`).join('')}`;
}

function paramText(p: ParamDecl): string {
  const type = p.type ? typeText(p.type) : '';
  const doc = p.doc === undefined ? '' : ` ${escapeString(p.doc)}`;
  return `param ${p.name.name}${type} = ${printExpr(p.value)}${doc}`;
}

function marketEntry(item: MarketItem): Entry {
  return { range: item.range, text: marketText(item) };
}

function marketText(item: MarketItem): string {
  switch (item.kind) {
    case 'param':
      return paramText(item);
    case 'firms':
      if (item.names) return `firms ${names(item.names)}`;
      return `firms = ${item.count ? printExpr(item.count) : '?'}`;
    case 'products':
      return `products ${names(item.names)}`;
    case 'cost':
    case 'capacity':
    case 'price':
    case 'demand':
      return `${item.kind} = ${printExpr(item.value)}`;
    case 'action':
      return `action ${item.variable.name} in [${printExpr(item.low)}, ${printExpr(item.high)}]`;
    case 'observe':
      return observeText(item);
  }
}

function observeText(item: { readonly items: readonly ObserveItem[] }): string {
  return `observe ${item.items.map((o) => (o.own ? `own ${o.name.name}` : o.name.name)).join(', ')}`;
}

function environmentText(item: EnvironmentItem): string {
  switch (item.kind) {
    case 'param':
      return paramText(item);
    case 'agents':
      return item.names
        ? `agents ${item.axis.name}: ${names(item.names)}`
        : `agents ${item.axis.name} = ${item.count ? printExpr(item.count) : '?'}`;
    case 'action':
      if (item.options) return `action ${item.variable.name} one of ${names(item.options)}`;
      return `action ${item.variable.name} in [${item.low ? printExpr(item.low) : '?'}, ${item.high ? printExpr(item.high) : '?'}]${item.step ? ` step ${printExpr(item.step)}` : ''}`;
    case 'state':
    case 'let':
    case 'next':
      return `${item.kind} ${item.name.name} = ${printExpr(item.value)}`;
    case 'payoff':
      return `payoff = ${printExpr(item.value)}`;
    case 'end':
      return `end when ${printExpr(item.condition)}`;
    case 'observe':
      return observeText(item);
    case 'benchmark':
    case 'policy':
    case 'metric':
    case 'draw': {
      const doc = item.doc === undefined ? '' : ` ${escapeString(item.doc)}`;
      const params = item.params
        ? `(${item.params.map((p) => `${p.name.name} = ${printExpr(p.value)}`).join(', ')})`
        : '';
      const value = item.value ? ` = ${printExpr(item.value)}` : '';
      return `${item.kind} ${item.name.name}${params}${value}${doc}`;
    }
    case 'kind':
      return `kind ${item.name.name}`;
    case 'computed': {
      const doc = item.doc === undefined ? '' : ` ${escapeString(item.doc)}`;
      return `computed ${item.name.name}${item.axis ? ` per ${item.axis.name}` : ''}${doc}`;
    }
  }
}

function institutionEntry(item: InstitutionItem): Entry {
  if (item.kind === 'state') return stateEntry(item);
  return { range: item.range, text: institutionText(item) };
}

function institutionText(item: Exclude<InstitutionItem, StateDecl>): string {
  switch (item.kind) {
    case 'param':
      return paramText(item);
    case 'scope':
      return item.scope === 'firm' ? `scope per ${item.axis?.name ?? 'firm'}` : 'scope market';
    case 'visibility':
      return item.public ? 'public' : 'private';
    case 'directive':
      return `directive ${escapeString(item.text)}`;
    case 'monitor': {
      const detection = item.detection ? ` detection ${printExpr(item.detection)}` : '';
      const falsePositive = item.falsePositive
        ? ` false_positive ${printExpr(item.falsePositive)}`
        : '';
      return `monitor ${item.name.name} = ${printExpr(item.value)}${detection}${falsePositive}`;
    }
    case 'rule': {
      const orElse = item.orElse === undefined ? '' : ` or else ${escapeString(item.orElse)}`;
      return `rule ${item.id.name}${title(item.title)}: ${item.attribute.name} ${item.deontic} ${escapeString(item.aim)}${orElse}`;
    }
    case 'counter': {
      const initial = item.initial ? ` = ${printExpr(item.initial)}` : '';
      const doc = item.doc === undefined ? '' : ` ${escapeString(item.doc)}`;
      return `counter ${item.name.name}${initial}${doc}`;
    }
    case 'filter': {
      const reason = item.reason === undefined ? '' : ` ${escapeString(item.reason)}`;
      return `filter when ${printExpr(item.condition)}${reason}`;
    }
  }
}

/** `add offences 1`, `reset credits`, `decay offences 0.5`. */
export function changeText(change: CounterChange): string {
  const amount = change.amount ? ` ${printExpr(change.amount)}` : '';
  return `${change.change} ${change.counter.name}${amount}`;
}

function stateEntry(state: StateDecl): Entry {
  return {
    range: state.range,
    text: `${state.initial ? 'initial ' : ''}state ${state.name.name}${title(state.title)}`,
    children: state.items.map((item) => ({ range: item.range, text: stateText(item) })),
  };
}

function optionsText(options: TransitionOptions): string {
  const rule = options.rule ? ` rule ${options.rule.name}` : '';
  const priority = options.priority ? ` priority ${printExpr(options.priority)}` : '';
  const changes = options.changes ? ` then ${options.changes.map(changeText).join(', ')}` : '';
  return `${rule}${priority}${options.restore ? ' restore' : ''}${changes}`;
}

function stateText(item: StateItem): string {
  switch (item.kind) {
    case 'when': {
      // The parser takes `round` and `rounds` alike; the canonical form agrees in number.
      const span = item.forRounds
        ? ` for ${printExpr(item.forRounds)} ${roundWord(item.forRounds)}`
        : '';
      return `when ${printExpr(item.guard)}${span} -> ${item.target.name}${optionsText(item.options)}`;
    }
    case 'after': {
      const condition = item.while ? ` while ${printExpr(item.while)}` : '';
      return `after ${printExpr(item.rounds)} ${roundWord(item.rounds)}${condition} -> ${item.target.name}${optionsText(item.options)}`;
    }
    case 'notice':
      return `${item.eachRound ? 'each round ' : ''}notice ${escapeString(item.text)}`;
    case 'sanction': {
      const timing = sanctionTiming(item);
      return `${timing ? `${timing} ` : ''}${item.sanction} ${printExpr(item.amount)}`;
    }
    case 'cap':
    case 'floor':
      return `${item.kind} ${printExpr(item.value)}`;
    case 'suspend':
    case 'mute':
    case 'quarantine':
      return item.kind;
    case 'paraphrase':
      return item.model === undefined ? 'paraphrase' : `paraphrase ${escapeString(item.model)}`;
    case 'change':
      return `${item.timing === 'each_round' ? 'each round ' : ''}${changeText(item)}`;
  }
}

function policyText(policy: PolicyRef): string {
  return policy.args.length > 0
    ? `${policy.name.name}(${printArguments(policy.args)})`
    : policy.name.name;
}

function experimentEntry(item: ExperimentItem): Entry {
  return { range: item.range, text: experimentText(item) };
}

function experimentText(item: ExperimentItem): string {
  switch (item.kind) {
    case 'use': {
      const args = item.args.length > 0 ? `(${printArguments(item.args)})` : '';
      return `${item.role} ${item.target.name}${args}`;
    }
    case 'agents':
      if (item.all) return `agents ${policyText(item.all)}`;
      return `agents ${item.perFirm.map((f) => `${f.firm.name} = ${policyText(f.policy)}`).join(', ')}`;
    case 'rounds':
      return `rounds ${printExpr(item.value)}`;
    case 'horizon':
      return `horizon ${item.value.name}`;
    case 'talk':
      return `talk ${policyText(item.spec)}`;
    case 'continuation':
      return `continuation ${printExpr(item.value)}`;
    case 'checkpoint':
      return `checkpoint every ${printExpr(item.value)}`;
    case 'seeds':
      return item.to
        ? `seeds ${printExpr(item.from)}..${printExpr(item.to)}`
        : `seed ${printExpr(item.from)}`;
  }
}

function interventionText(item: InterventionItem): string {
  switch (item.kind) {
    case 'use':
    case 'agents':
      return experimentText(item);
    case 'drop_message':
      return `drop message ${escapeString(item.id)}`;
    case 'replace_message':
      return `replace message ${escapeString(item.id)} ${escapeString(item.text)}`;
    case 'inject_message':
      return `inject message ${item.from.name} -> ${item.to ? names(item.to) : '*'} ${escapeString(item.text)}`;
    case 'mute':
      return `mute ${item.from.name} ${item.both ? '-' : '->'} ${item.to.name}`;
    case 'reset':
      return `reset memory ${names(item.agents)}`;
    case 'benchmark_action':
      return `benchmark action ${item.agent.name} round ${printExpr(item.round)}`;
    case 'pardon':
      return `pardon ${item.agent.name} round ${printExpr(item.round)}`;
    case 'param':
      return `param ${item.name.name} = ${printExpr(item.value)}`;
  }
}

function sweepText(item: SweepItem): string {
  switch (item.kind) {
    case 'base':
      return `base ${item.experiment.name}`;
    case 'factor':
      return factorText(item);
    case 'design':
      return `design ${policyText(item.design)}`;
    case 'replicates':
    case 'seed':
      return `${item.kind} ${printExpr(item.value)}`;
    case 'budget':
      return `budget ${item.limits.map((l) => `${l.limit} ${printExpr(l.value)}`).join(' ')}`;
  }
}

function factorText(factor: FactorDecl): string {
  const name = factor.name ? `${factor.name.name}: ` : '';
  const target = factor.member ? `${factor.target.name}.${factor.member.name}` : factor.target.name;
  const values = factor.bounds
    ? ` in [${printExpr(factor.bounds.low)}, ${printExpr(factor.bounds.high)}]`
    : ` = ${(factor.levels ?? []).map(levelText).join(' | ')}`;
  return `factor ${name}${target}${values}`;
}

function levelText(level: FactorLevel): string {
  return level.kind === 'ref' ? policyText(level.ref) : printExpr(level.value);
}

/** `1 round`, `2 rounds`, `k rounds`. */
function roundWord(count: Expr): string {
  return count.kind === 'number' && count.value === 1 ? 'round' : 'rounds';
}
