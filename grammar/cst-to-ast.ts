import type { CstElement, CstNode, IToken } from 'chevrotain';
import type {
  Argument,
  BaseTypeName,
  BinaryOperator,
  CounterChange,
  Declaration,
  Deontic,
  EnvironmentDecl,
  EnvironmentItem,
  ExperimentDecl,
  ExperimentItem,
  Expr,
  FactorDecl,
  FactorLevel,
  ImportItem,
  InstitutionDecl,
  InstitutionItem,
  InterventionDecl,
  InterventionItem,
  MarketDecl,
  MarketItem,
  Name,
  NoticePart,
  ParamDecl,
  PolicyRef,
  Position,
  Range,
  StateDecl,
  StateItem,
  SweepDecl,
  SweepItem,
  TransitionOptions,
} from './ast.js';
import { type Diagnostic, diagnostic, numberTooLarge } from './diagnostics.js';

/** Names that would reach JavaScript internals if ever used as object keys. */
export const reservedJsNames: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
  '__defineGetter__',
  '__defineSetter__',
  '__lookupGetter__',
  '__lookupSetter__',
  'hasOwnProperty',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toString',
  'valueOf',
  'toLocaleString',
]);

function isToken(element: CstElement): element is IToken {
  return (element as IToken).image !== undefined;
}

function validToken(t: IToken | undefined): t is IToken {
  return t !== undefined && t.isInsertedInRecovery !== true && Number.isFinite(t.startOffset);
}

export function tokenRange(t: IToken): Range {
  return {
    start: { line: t.startLine ?? 1, column: t.startColumn ?? 1, offset: t.startOffset },
    end: {
      line: t.endLine ?? t.startLine ?? 1,
      column: (t.endColumn ?? t.startColumn ?? 0) + 1,
      offset: (t.endOffset ?? t.startOffset) + 1,
    },
  };
}

/**
 * Converts one parse tree to AST values. Ranges are computed here and nowhere else.
 * Recovery can leave holes in the CST; every accessor tolerates them and the
 * converter drops or fills (`missing`) what it cannot build.
 */
export class CstToAst {
  readonly diagnostics: Diagnostic[] = [];
  private readonly fallback: Position;

  constructor(
    private readonly path: string,
    textLength: number,
    endPosition: Position,
    /** Parses the source between two offsets as one expression (a notice's `{…}`). */
    private readonly segment?: (start: number, end: number) => Expr | undefined,
  ) {
    this.fallback = textLength === 0 ? { line: 1, column: 1, offset: 0 } : endPosition;
  }

  // ---- accessors ------------------------------------------------------------------------
  private tok(node: CstNode, label: string): IToken | undefined {
    const found = node.children[label]?.find((e) => isToken(e) && validToken(e));
    return found as IToken | undefined;
  }
  private toks(node: CstNode, label: string): IToken[] {
    return (node.children[label] ?? []).filter((e): e is IToken => isToken(e) && validToken(e));
  }
  private sub(node: CstNode, label: string): CstNode | undefined {
    return node.children[label]?.find((e): e is CstNode => !isToken(e) && !e.recoveredNode);
  }
  private subs(node: CstNode, label: string): CstNode[] {
    return (node.children[label] ?? []).filter(
      (e): e is CstNode => !isToken(e) && !e.recoveredNode,
    );
  }

  private range(node: CstNode): Range {
    const loc = node.location;
    if (loc && Number.isFinite(loc.startOffset) && Number.isFinite(loc.endOffset ?? Number.NaN)) {
      return {
        start: { line: loc.startLine ?? 1, column: loc.startColumn ?? 1, offset: loc.startOffset },
        end: {
          line: loc.endLine ?? loc.startLine ?? 1,
          column: (loc.endColumn ?? 0) + 1,
          offset: (loc.endOffset ?? loc.startOffset) + 1,
        },
      };
    }
    const tokens = collectTokens(node);
    const first = tokens[0];
    const last = tokens[tokens.length - 1];
    if (first && last) return { start: tokenRange(first).start, end: tokenRange(last).end };
    return { start: this.fallback, end: this.fallback };
  }

  private name(t: IToken | undefined): Name | undefined {
    if (!validToken(t)) return undefined;
    if (reservedJsNames.has(t.image)) {
      this.diagnostics.push(
        diagnostic(
          'E_RESERVED_NAME',
          this.path,
          tokenRange(t),
          `\`${t.image}\` is reserved and cannot be used as a name`,
          'choose another name; names that reach JavaScript internals are refused',
        ),
      );
    }
    return { name: t.image, range: tokenRange(t) };
  }

  private string(t: IToken | undefined): string | undefined {
    if (!validToken(t)) return undefined;
    // Escapes are read pairwise from the left: a doubled backslash then q is fine.
    const bad = [...t.image.matchAll(/\\(.)/g)].find((m) => !'"\\nt'.includes(m[1] ?? ''));
    if (bad) {
      const offset = t.startOffset + bad.index;
      const column = (t.startColumn ?? 1) + bad.index;
      const line = t.startLine ?? 1;
      this.diagnostics.push(
        diagnostic(
          'E_LEX',
          this.path,
          {
            start: { line, column, offset },
            end: { line, column: column + 2, offset: offset + 2 },
          },
          `unknown escape \`\\${bad[1]}\` in a string`,
          'strings know \\" \\\\ \\n and \\t; write \\\\ for a backslash',
        ),
      );
    }
    return unescapeString(t.image);
  }

  /**
   * A notice's parts when it has `{…}`: literal text (unescaped; `{{` and `}}` are braces)
   * and expressions parsed where they stand in the source. Undefined when it has no brace.
   */
  private noticeParts(t: IToken): NoticePart[] | undefined {
    const raw = t.image;
    if (!/[{}]/.test(raw)) return undefined;
    const parts: NoticePart[] = [];
    let literal = '';
    const at = (i: number): Range => {
      const offset = t.startOffset + i;
      const column = (t.startColumn ?? 1) + i;
      const line = t.startLine ?? 1;
      return {
        start: { line, column, offset },
        end: { line, column: column + 1, offset: offset + 1 },
      };
    };
    const end = raw.endsWith('"') && raw.length > 1 ? raw.length - 1 : raw.length;
    for (let i = 1; i < end; i++) {
      const c = raw[i] as string;
      if (c === '\\') {
        literal += raw.slice(i, i + 2);
        i++;
      } else if ((c === '{' || c === '}') && raw[i + 1] === c) {
        literal += c;
        i++;
      } else if (c === '{') {
        const close = raw.indexOf('}', i + 1);
        if (close < 0 || close >= end) {
          this.diagnostics.push(
            diagnostic(
              'E_SYNTAX',
              this.path,
              at(i),
              '`{` in a notice opens a value that is not closed with `}`',
              'write `{{` for a brace in the text',
            ),
          );
          return undefined;
        }
        const inside = raw.slice(i + 1, close);
        if (inside.trim() === '' || inside.includes('\\')) {
          this.diagnostics.push(
            diagnostic(
              'E_SYNTAX',
              this.path,
              at(i),
              inside.trim() === ''
                ? '`{}` in a notice holds no value'
                : 'a value in a notice cannot hold an escape (`\\`)',
              'write `{AMOUNT}` with an expression, or `{{}}` for braces',
            ),
          );
          return undefined;
        }
        const expr = this.segment?.(t.startOffset + i + 1, t.startOffset + close);
        if (!expr) return undefined;
        if (literal) parts.push({ text: unescapeString(`"${literal}"`) });
        literal = '';
        parts.push({ expr });
        i = close;
      } else literal += c;
    }
    if (literal) parts.push({ text: unescapeString(`"${literal}"`) });
    // Braces without a value still give parts: the firm is shown `{{` as one brace.
    return parts;
  }

  // ---- declarations -----------------------------------------------------------------------
  declarations(file: CstNode): Declaration[] {
    const out: Declaration[] = [];
    for (const decl of this.subs(file, 'declaration')) {
      const market = this.sub(decl, 'market');
      const environment = this.sub(decl, 'environment');
      const institution = this.sub(decl, 'institution');
      const experiment = this.sub(decl, 'experiment');
      const sweep = this.sub(decl, 'sweep');
      const intervention = this.sub(decl, 'intervention');
      const converted = intervention
        ? this.intervention(intervention)
        : market
          ? this.market(market)
          : environment
            ? this.environment(environment)
            : institution
              ? this.institution(institution)
              : experiment
                ? this.experiment(experiment)
                : sweep
                  ? this.sweep(sweep)
                  : undefined;
      if (converted) out.push(converted);
    }
    return out;
  }

  imports(file: CstNode): ImportItem[] {
    const firstDeclaration = this.subs(file, 'declaration')[0];
    const out: ImportItem[] = [];
    for (const node of this.subs(file, 'importItem')) {
      const token = this.tok(node, 'spec');
      const spec = this.string(token);
      if (spec === undefined || !token) continue;
      const range = this.range(node);
      if (firstDeclaration && this.range(firstDeclaration).start.offset < range.start.offset) {
        this.diagnostics.push(
          diagnostic(
            'E_SYNTAX',
            this.path,
            range,
            'an import comes before the declarations of its file',
            'move it up, under `mase 1`, with the other imports',
          ),
        );
      }
      out.push({ kind: 'import', spec, range });
    }
    return out;
  }

  version(file: CstNode): { value: number; range: Range } | undefined {
    const t = this.tok(file, 'version');
    if (!t) return undefined;
    const value = Number(t.image);
    // Infinity would fail the AST schema and surface as E_INTERNAL.
    if (!Number.isFinite(value)) {
      this.diagnostics.push(
        diagnostic(
          'E_NUMBER',
          this.path,
          tokenRange(t),
          numberTooLarge.message(t.image),
          numberTooLarge.hint,
        ),
      );
      return undefined;
    }
    return { value, range: tokenRange(t) };
  }

  private header(node: CstNode): { name: Name; title?: string } | undefined {
    const name = this.name(this.tok(node, 'name'));
    if (!name) return undefined;
    const title = this.string(this.tok(node, 'title'));
    return title === undefined ? { name } : { name, title };
  }

  private market(node: CstNode): MarketDecl | undefined {
    const header = this.header(node);
    if (!header) return undefined;
    const items: MarketItem[] = [];
    for (const item of this.subs(node, 'marketItem')) {
      const converted = this.marketItem(item);
      if (converted) items.push(converted);
    }
    return { kind: 'market', ...header, items, range: this.range(node) };
  }

  private marketItem(item: CstNode): MarketItem | undefined {
    const param = this.sub(item, 'param');
    if (param) return this.param(param);
    const firms = this.sub(item, 'firmsItem');
    if (firms) {
      const count = this.sub(firms, 'count');
      const list = this.sub(firms, 'nameList');
      if (count) return { kind: 'firms', count: this.expression(count), range: this.range(firms) };
      if (list) return { kind: 'firms', names: this.nameList(list), range: this.range(firms) };
      return undefined;
    }
    const products = this.sub(item, 'productsItem');
    if (products) {
      const list = this.sub(products, 'nameList');
      return list
        ? { kind: 'products', names: this.nameList(list), range: this.range(products) }
        : undefined;
    }
    const assign = this.sub(item, 'assignItem');
    if (assign) {
      const key = this.tok(assign, 'key')?.image;
      const value = this.expressionOf(assign, 'value');
      if (key === 'cost' || key === 'capacity' || key === 'price' || key === 'demand') {
        return { kind: key, value, range: this.range(assign) };
      }
      return undefined;
    }
    const action = this.sub(item, 'actionItem');
    if (action) {
      const variable = this.name(this.tok(action, 'variable'));
      if (!variable) return undefined;
      return {
        kind: 'action',
        variable,
        low: this.expressionOf(action, 'low'),
        high: this.expressionOf(action, 'high'),
        range: this.range(action),
      };
    }
    const observe = this.sub(item, 'observeItem');
    if (observe) return this.observe(observe);
    return undefined;
  }

  private environment(node: CstNode): EnvironmentDecl | undefined {
    const header = this.header(node);
    if (!header) return undefined;
    const items: EnvironmentItem[] = [];
    for (const item of this.subs(node, 'environmentItem')) {
      const converted = this.environmentItem(item);
      if (converted) items.push(converted);
    }
    return { kind: 'environment', ...header, items, range: this.range(node) };
  }

  private environmentItem(item: CstNode): EnvironmentItem | undefined {
    const param = this.sub(item, 'param');
    if (param) return this.param(param);
    const agents = this.sub(item, 'agentAxisItem');
    if (agents) {
      const axis = this.name(this.tok(agents, 'axis'));
      if (!axis) return undefined;
      const count = this.sub(agents, 'count');
      const list = this.sub(agents, 'nameList');
      if (count)
        return { kind: 'agents', axis, count: this.expression(count), range: this.range(agents) };
      if (list)
        return { kind: 'agents', axis, names: this.nameList(list), range: this.range(agents) };
      return undefined;
    }
    const action = this.sub(item, 'environmentAction');
    if (action) {
      const variable = this.name(this.tok(action, 'variable'));
      if (!variable) return undefined;
      const list = this.sub(action, 'nameList');
      if (list)
        return {
          kind: 'action',
          variable,
          options: this.nameList(list),
          range: this.range(action),
        };
      const step = this.sub(action, 'step');
      return {
        kind: 'action',
        variable,
        low: this.expressionOf(action, 'low'),
        high: this.expressionOf(action, 'high'),
        ...(step ? { step: this.expression(step) } : {}),
        range: this.range(action),
      };
    }
    const named = this.sub(item, 'namedValueItem');
    if (named) {
      const key = this.tok(named, 'key')?.image;
      const name = this.name(this.tok(named, 'name'));
      if (!name || (key !== 'state' && key !== 'let' && key !== 'next')) return undefined;
      return {
        kind: key,
        name,
        value: this.expressionOf(named, 'value'),
        range: this.range(named),
      };
    }
    const payoff = this.sub(item, 'payoffItem');
    if (payoff)
      return {
        kind: 'payoff',
        value: this.expressionOf(payoff, 'value'),
        range: this.range(payoff),
      };
    const end = this.sub(item, 'endItem');
    if (end)
      return {
        kind: 'end',
        condition: this.expressionOf(end, 'condition'),
        range: this.range(end),
      };
    const observe = this.sub(item, 'observeItem');
    if (observe) return this.observe(observe);
    const documented = this.sub(item, 'documentedItem');
    if (documented) {
      const key = this.tok(documented, 'key')?.image;
      const name = this.name(this.tok(documented, 'name'));
      if (!name || (key !== 'benchmark' && key !== 'policy' && key !== 'metric' && key !== 'draw'))
        return undefined;
      const doc = this.string(this.tok(documented, 'doc'));
      const params = this.subs(documented, 'params').flatMap((p) => {
        const param = this.name(this.tok(p, 'name'));
        return param
          ? [{ name: param, value: this.expressionOf(p, 'value'), range: this.range(p) }]
          : [];
      });
      const hasList = this.tok(documented, 'LParen') !== undefined;
      const hasValue = this.tok(documented, 'Equals') !== undefined;
      return {
        kind: key,
        name,
        ...(hasList ? { params } : {}),
        ...(hasValue ? { value: this.expressionOf(documented, 'value') } : {}),
        ...(doc === undefined ? {} : { doc }),
        range: this.range(documented),
      };
    }
    const kind = this.sub(item, 'kindItem');
    if (kind) {
      const name = this.name(this.tok(kind, 'name'));
      return name ? { kind: 'kind', name, range: this.range(kind) } : undefined;
    }
    const computed = this.sub(item, 'computedItem');
    if (computed) {
      const name = this.name(this.tok(computed, 'name'));
      if (!name) return undefined;
      const axis = this.name(this.tok(computed, 'axis'));
      const doc = this.string(this.tok(computed, 'doc'));
      return {
        kind: 'computed',
        name,
        ...(axis ? { axis } : {}),
        ...(doc === undefined ? {} : { doc }),
        range: this.range(computed),
      };
    }
    return undefined;
  }

  private observe(observe: CstNode): Extract<MarketItem, { kind: 'observe' }> {
    const items = this.subs(observe, 'observed').flatMap((o) => {
      const name = this.name(this.tok(o, 'name'));
      return name ? [{ own: this.tok(o, 'Kw_own') !== undefined, name, range: this.range(o) }] : [];
    });
    return { kind: 'observe', items, range: this.range(observe) };
  }

  private nameList(node: CstNode): Name[] {
    return this.toks(node, 'name').flatMap((t) => {
      const n = this.name(t);
      return n ? [n] : [];
    });
  }

  private param(node: CstNode): ParamDecl | undefined {
    const name = this.name(this.tok(node, 'name'));
    if (!name) return undefined;
    const typeNode = this.sub(node, 'typeAnnotation');
    const doc = this.string(this.tok(node, 'doc'));
    const base = typeNode ? this.tok(typeNode, 'base')?.image : undefined;
    const axes = typeNode ? this.toks(typeNode, 'axis').map((t) => t.image) : [];
    const options = typeNode
      ? this.toks(typeNode, 'option').flatMap((t) => {
          const value = this.string(t);
          return value === undefined ? [] : [{ value, range: tokenRange(t) }];
        })
      : [];
    return {
      kind: 'param',
      name,
      ...(typeNode
        ? {
            type: {
              ...(base ? { base: base as BaseTypeName } : {}),
              ...(options.length > 0 ? { options } : {}),
              ...(typeNode && this.tok(typeNode, 'list') ? { list: true as const } : {}),
              axes,
              range: this.range(typeNode),
            },
          }
        : {}),
      value: this.expressionOf(node, 'value'),
      ...(doc === undefined ? {} : { doc }),
      range: this.range(node),
    };
  }

  private institution(node: CstNode): InstitutionDecl | undefined {
    const header = this.header(node);
    if (!header) return undefined;
    const items: InstitutionItem[] = [];
    for (const item of this.subs(node, 'institutionItem')) {
      const converted = this.institutionItem(item);
      if (converted) items.push(converted);
    }
    return { kind: 'institution', ...header, items, range: this.range(node) };
  }

  private institutionItem(item: CstNode): InstitutionItem | undefined {
    const param = this.sub(item, 'param');
    if (param) return this.param(param);
    const visibility = this.tok(item, 'visibility');
    if (visibility)
      return {
        kind: 'visibility',
        public: visibility.image === 'public',
        range: tokenRange(visibility),
      };
    const scope = this.sub(item, 'scopeItem');
    if (scope) {
      const word = this.tok(scope, 'scope');
      if (!word) return undefined;
      const perAgent = this.tok(scope, 'Kw_per') !== undefined;
      const axis = perAgent && word.image !== 'firm' ? this.name(word) : undefined;
      return {
        kind: 'scope',
        scope: perAgent ? 'firm' : 'market',
        ...(axis ? { axis } : {}),
        range: this.range(scope),
      };
    }
    const directive = this.sub(item, 'directiveItem');
    if (directive) {
      const text = this.string(this.tok(directive, 'text'));
      return text === undefined
        ? undefined
        : { kind: 'directive', text, range: this.range(directive) };
    }
    const monitor = this.sub(item, 'monitorItem');
    if (monitor) {
      const name = this.name(this.tok(monitor, 'name'));
      if (!name) return undefined;
      const detection = this.sub(monitor, 'detection');
      const falsePositive = this.sub(monitor, 'falsePositive');
      return {
        kind: 'monitor',
        name,
        value: this.expressionOf(monitor, 'value'),
        ...(detection ? { detection: this.expression(detection) } : {}),
        ...(falsePositive ? { falsePositive: this.expression(falsePositive) } : {}),
        range: this.range(monitor),
      };
    }
    const rule = this.sub(item, 'ruleItem');
    if (rule) {
      const id = this.name(this.tok(rule, 'id'));
      const attribute = this.name(this.tok(rule, 'attribute'));
      const aim = this.string(this.tok(rule, 'aim'));
      if (!id || !attribute || aim === undefined) return undefined;
      const deontic: Deontic = this.tok(rule, 'Kw_may')
        ? 'may'
        : this.tok(rule, 'Kw_not')
          ? 'must not'
          : 'must';
      const title = this.string(this.tok(rule, 'title'));
      const orElse = this.string(this.tok(rule, 'orElse'));
      return {
        kind: 'rule',
        id,
        ...(title === undefined ? {} : { title }),
        attribute,
        deontic,
        aim,
        ...(orElse === undefined ? {} : { orElse }),
        range: this.range(rule),
      };
    }
    const state = this.sub(item, 'stateDecl');
    if (state) return this.state(state);
    const counter = this.sub(item, 'counterItem');
    if (counter) {
      const name = this.name(this.tok(counter, 'name'));
      if (!name) return undefined;
      const initial = this.sub(counter, 'initial');
      const doc = this.string(this.tok(counter, 'doc'));
      return {
        kind: 'counter',
        name,
        ...(initial ? { initial: this.expression(initial) } : {}),
        ...(doc === undefined ? {} : { doc }),
        range: this.range(counter),
      };
    }
    const filter = this.sub(item, 'filterItem');
    if (filter) {
      const reason = this.string(this.tok(filter, 'reason'));
      return {
        kind: 'filter',
        condition: this.expressionOf(filter, 'condition'),
        ...(reason === undefined ? {} : { reason }),
        range: this.range(filter),
      };
    }
    return undefined;
  }

  private state(node: CstNode): StateDecl | undefined {
    const header = this.header(node);
    if (!header) return undefined;
    const items: StateItem[] = [];
    for (const item of this.subs(node, 'stateItem')) {
      const converted = this.stateItem(item);
      if (converted) items.push(converted);
    }
    return {
      kind: 'state',
      ...header,
      initial: this.tok(node, 'Kw_initial') !== undefined,
      items,
      range: this.range(node),
    };
  }

  private transitionOptions(node: CstNode): TransitionOptions {
    let priority: Expr | undefined;
    let rule: Name | undefined;
    let restore = false;
    const changes: CounterChange[] = [];
    // An option given twice would silently lose the first (a rule citation, a priority).
    const seen = new Set<string>();
    for (const option of this.subs(node, 'transitionOption')) {
      const word = this.tok(option, 'Kw_priority')
        ? 'priority'
        : this.tok(option, 'Kw_rule')
          ? 'rule'
          : this.tok(option, 'Kw_restore')
            ? 'restore'
            : 'then';
      if (seen.has(word))
        this.diagnostics.push(
          diagnostic(
            'E_DUPLICATE',
            this.path,
            this.range(option),
            `a transition takes \`${word}\` once; this is the second`,
            word === 'then'
              ? 'list every change after one `then`, separated by commas'
              : word === 'rule'
                ? 'a transition cites one rule; cite the other from a transition of its own'
                : `remove one \`${word}\``,
          ),
        );
      seen.add(word);
      const p = this.sub(option, 'priority');
      if (p) priority = this.expression(p);
      const r = this.name(this.tok(option, 'rule'));
      if (r) rule = r;
      if (this.tok(option, 'Kw_restore')) restore = true;
      for (const c of this.subs(option, 'changes')) {
        const change = this.counterChange(c);
        if (change) changes.push(change);
      }
    }
    return {
      ...(priority ? { priority } : {}),
      ...(rule ? { rule } : {}),
      restore,
      ...(changes.length > 0 ? { changes } : {}),
    };
  }

  private counterChange(node: CstNode): CounterChange | undefined {
    const word = this.tok(node, 'change')?.image;
    const counter = this.name(this.tok(node, 'counter'));
    if (!counter || (word !== 'add' && word !== 'reset' && word !== 'decay')) return undefined;
    const amount = this.sub(node, 'amount');
    return {
      change: word,
      counter,
      ...(amount ? { amount: this.expression(amount) } : {}),
      range: this.range(node),
    };
  }

  private stateItem(item: CstNode): StateItem | undefined {
    const when = this.sub(item, 'whenItem');
    if (when) {
      const target = this.name(this.tok(when, 'target'));
      if (!target) return undefined;
      const forRounds = this.sub(when, 'forRounds');
      return {
        kind: 'when',
        guard: this.expressionOf(when, 'guard'),
        ...(forRounds ? { forRounds: this.expression(forRounds) } : {}),
        target,
        options: this.transitionOptions(when),
        range: this.range(when),
      };
    }
    const after = this.sub(item, 'afterItem');
    if (after) {
      const target = this.name(this.tok(after, 'target'));
      if (!target) return undefined;
      const whileNode = this.sub(after, 'while');
      return {
        kind: 'after',
        rounds: this.expressionOf(after, 'rounds'),
        ...(whileNode ? { while: this.expression(whileNode) } : {}),
        target,
        options: this.transitionOptions(after),
        range: this.range(after),
      };
    }
    const notice = this.sub(item, 'noticeItem');
    if (notice) {
      const token = this.tok(notice, 'text');
      const text = this.string(token);
      if (text === undefined || !token) return undefined;
      const parts = this.noticeParts(token);
      return {
        kind: 'notice',
        text,
        ...(parts ? { parts } : {}),
        ...(this.tok(notice, 'eachRound') ? { eachRound: true as const } : {}),
        range: this.range(notice),
      };
    }
    const sanction = this.sub(item, 'sanctionItem');
    if (sanction) {
      const timing = this.tok(sanction, 'eachRound') ? 'each_round' : 'entry';
      const changeNode = this.sub(sanction, 'change');
      const afterEntry = this.tok(sanction, 'afterEntry');
      if (changeNode && afterEntry) {
        this.diagnostics.push(
          diagnostic(
            'E_SYNTAX',
            this.path,
            {
              start: tokenRange(afterEntry).start,
              end: tokenRange(this.tok(sanction, 'Kw_entry') ?? afterEntry).end,
            },
            '`each round after entry` is written before `fine` or `credit`, not before a counter change',
            'a counter change `each round` already starts in the round after entry: delete `after entry`',
          ),
        );
      }
      if (changeNode) {
        const change = this.counterChange(changeNode);
        return change && { kind: 'change', timing, ...change, range: this.range(sanction) };
      }
      const word = this.tok(sanction, 'sanction')?.image;
      if (word !== 'fine' && word !== 'credit') return undefined;
      return {
        kind: 'sanction',
        sanction: word,
        timing,
        ...(this.tok(sanction, 'afterEntry') ? { afterEntry: true as const } : {}),
        amount: this.expressionOf(sanction, 'amount'),
        range: this.range(sanction),
      };
    }
    const limit = this.sub(item, 'limitItem');
    if (limit) {
      const word = this.tok(limit, 'limit')?.image;
      if (word !== 'cap' && word !== 'floor') return undefined;
      return { kind: word, value: this.expressionOf(limit, 'value'), range: this.range(limit) };
    }
    const suspend = this.tok(item, 'suspend');
    if (suspend) return { kind: 'suspend', range: tokenRange(suspend) };
    const mute = this.tok(item, 'mute');
    if (mute) return { kind: 'mute', range: tokenRange(mute) };
    const quarantine = this.tok(item, 'quarantine');
    if (quarantine) return { kind: 'quarantine', range: tokenRange(quarantine) };
    const paraphrase = this.sub(item, 'paraphraseItem');
    if (paraphrase) {
      const model = this.string(this.tok(paraphrase, 'model'));
      return {
        kind: 'paraphrase',
        ...(model === undefined ? {} : { model }),
        range: this.range(paraphrase),
      };
    }
    return undefined;
  }

  private experiment(node: CstNode): ExperimentDecl | undefined {
    const header = this.header(node);
    if (!header) return undefined;
    const items: ExperimentItem[] = [];
    for (const item of this.subs(node, 'experimentItem')) {
      const converted = this.experimentItem(item);
      if (converted) items.push(converted);
    }
    return { kind: 'experiment', ...header, items, range: this.range(node) };
  }

  private experimentItem(item: CstNode): ExperimentItem | undefined {
    const use = this.sub(item, 'useItem');
    if (use) {
      const role = this.tok(use, 'role')?.image;
      const target = this.name(this.tok(use, 'target'));
      if ((role !== 'market' && role !== 'institution' && role !== 'environment') || !target)
        return undefined;
      const argList = this.sub(use, 'argumentList');
      return {
        kind: 'use',
        role,
        target,
        args: argList ? this.arguments(argList) : [],
        range: this.range(use),
      };
    }
    const agents = this.sub(item, 'agentsItem');
    if (agents) {
      const all = this.sub(agents, 'all');
      const firms = this.toks(agents, 'firm');
      const policies = this.subs(agents, 'assigned');
      const perFirm: { firm: Name; policy: PolicyRef }[] = [];
      firms.forEach((t, i) => {
        const firm = this.name(t);
        const policyNode = policies[i];
        const policy = policyNode ? this.policy(policyNode) : undefined;
        if (firm && policy) perFirm.push({ firm, policy });
      });
      const allPolicy = all ? this.policy(all) : undefined;
      return {
        kind: 'agents',
        ...(allPolicy ? { all: allPolicy } : {}),
        perFirm,
        range: this.range(agents),
      };
    }
    const rounds = this.sub(item, 'rounds');
    if (rounds) return { kind: 'rounds', value: this.expression(rounds), range: this.range(item) };
    const talk = this.sub(item, 'talk');
    if (talk) {
      const spec = this.policy(talk);
      return spec ? { kind: 'talk', spec, range: this.range(item) } : undefined;
    }
    const horizon = this.name(this.tok(item, 'horizon'));
    if (horizon) return { kind: 'horizon', value: horizon, range: this.range(item) };
    const checkpoint = this.sub(item, 'checkpoint');
    if (checkpoint)
      return { kind: 'checkpoint', value: this.expression(checkpoint), range: this.range(item) };
    const continuation = this.sub(item, 'continuation');
    if (continuation)
      return {
        kind: 'continuation',
        value: this.expression(continuation),
        range: this.range(item),
      };
    const seeds = this.sub(item, 'seedsItem');
    if (seeds) {
      const to = this.sub(seeds, 'to');
      return {
        kind: 'seeds',
        from: this.expressionOf(seeds, 'from'),
        ...(to ? { to: this.expression(to) } : {}),
        range: this.range(seeds),
      };
    }
    return undefined;
  }

  private intervention(node: CstNode): InterventionDecl | undefined {
    const header = this.header(node);
    if (!header) return undefined;
    const items: InterventionItem[] = [];
    for (const item of this.subs(node, 'interventionItem')) {
      const converted = this.interventionItem(item);
      if (converted) items.push(converted);
    }
    return { kind: 'intervention', ...header, items, range: this.range(node) };
  }

  private interventionItem(item: CstNode): InterventionItem | undefined {
    const range = this.range(item);
    if (this.sub(item, 'useItem') || this.sub(item, 'agentsItem')) {
      const converted = this.experimentItem(item);
      return converted?.kind === 'use' || converted?.kind === 'agents' ? converted : undefined;
    }
    if (this.tok(item, 'dropKey')) {
      const id = this.string(this.tok(item, 'dropped'));
      return id === undefined ? undefined : { kind: 'drop_message', id, range };
    }
    if (this.tok(item, 'replaceKey')) {
      const id = this.string(this.tok(item, 'replaced'));
      const text = this.string(this.tok(item, 'replacement'));
      return id === undefined || text === undefined
        ? undefined
        : { kind: 'replace_message', id, text, range };
    }
    if (this.tok(item, 'injectKey')) {
      const from = this.name(this.tok(item, 'from'));
      const text = this.string(this.tok(item, 'text'));
      const to = this.sub(item, 'to');
      if (!from || text === undefined || (!to && !this.tok(item, 'everyone'))) return undefined;
      return {
        kind: 'inject_message',
        from,
        ...(to ? { to: this.nameList(to) } : {}),
        text,
        range,
      };
    }
    if (this.tok(item, 'muteKey')) {
      const from = this.name(this.tok(item, 'edgeFrom'));
      const to = this.name(this.tok(item, 'edgeTo'));
      if (!from || !to) return undefined;
      return { kind: 'mute', from, to, both: this.tok(item, 'bothWays') !== undefined, range };
    }
    const reset = this.sub(item, 'reset');
    if (reset) return { kind: 'reset', agents: this.nameList(reset), range };
    if (this.tok(item, 'paramKey')) {
      const name = this.name(this.tok(item, 'paramName'));
      const value = this.sub(item, 'paramValue');
      if (!name || !value) return undefined;
      return { kind: 'param', name, value: this.expression(value), range };
    }
    const pardon = this.tok(item, 'pardonKey') !== undefined;
    if (this.tok(item, 'benchmarkKey') || pardon) {
      const agent = this.name(this.tok(item, 'agent'));
      const round = this.sub(item, 'round');
      if (!agent || !round) return undefined;
      return {
        kind: pardon ? 'pardon' : 'benchmark_action',
        agent,
        round: this.expression(round),
        range,
      };
    }
    return undefined;
  }

  private sweep(node: CstNode): SweepDecl | undefined {
    const header = this.header(node);
    if (!header) return undefined;
    const items: SweepItem[] = [];
    for (const item of this.subs(node, 'sweepItem')) {
      const converted = this.sweepItem(item);
      if (converted) items.push(converted);
    }
    return { kind: 'sweep', ...header, items, range: this.range(node) };
  }

  private sweepItem(item: CstNode): SweepItem | undefined {
    const range = this.range(item);
    if (this.tok(item, 'baseKey')) {
      const experiment = this.name(this.tok(item, 'base'));
      return experiment ? { kind: 'base', experiment, range } : undefined;
    }
    const factor = this.sub(item, 'factorItem');
    if (factor) return this.factor(factor);
    const design = this.sub(item, 'design');
    if (design) {
      const spec = this.policy(design);
      return spec ? { kind: 'design', design: spec, range } : undefined;
    }
    const replicates = this.sub(item, 'replicates');
    if (replicates) return { kind: 'replicates', value: this.expression(replicates), range };
    const seed = this.sub(item, 'seed');
    if (seed) return { kind: 'seed', value: this.expression(seed), range };
    const budget = this.sub(item, 'budgetItem');
    if (budget) {
      const amounts = this.subs(budget, 'amount');
      const limits = this.toks(budget, 'limit').flatMap((t, i) => {
        const amount = amounts[i];
        if (!amount || (t.image !== 'tokens' && t.image !== 'cost')) return [];
        const value = this.expression(amount);
        return [
          {
            limit: t.image,
            value,
            range: { start: tokenRange(t).start, end: value.range.end },
          } as const,
        ];
      });
      return { kind: 'budget', limits, range: this.range(budget) };
    }
    return undefined;
  }

  private factor(node: CstNode): FactorDecl | undefined {
    const target = this.name(this.tok(node, 'target'));
    if (!target) return undefined;
    const name = this.name(this.tok(node, 'name'));
    const member = this.name(this.tok(node, 'member'));
    const levels = this.subs(node, 'levels').map((n) => this.level(this.expression(n)));
    const inKeyword = this.tok(node, 'Kw_in');
    const head = {
      kind: 'factor' as const,
      ...(name ? { name } : {}),
      target,
      ...(member ? { member } : {}),
    };
    if (inKeyword) {
      const high = this.expressionOf(node, 'high');
      const close = this.tok(node, 'RBracket');
      return {
        ...head,
        bounds: {
          low: this.expressionOf(node, 'low'),
          high,
          range: {
            start: tokenRange(inKeyword).start,
            end: close ? tokenRange(close).end : high.range.end,
          },
        },
        range: this.range(node),
      };
    }
    // Recovery may leave `factor x =` with no level; the parser has said so already.
    if (levels.length === 0) return undefined;
    return { ...head, levels, range: this.range(node) };
  }

  /** A name, or a call of one, names a thing (a policy, a market…); anything else is a value. */
  private level(e: Expr): FactorLevel {
    if (e.kind === 'name')
      return {
        kind: 'ref',
        ref: { name: { name: e.name, range: e.range }, args: [], range: e.range },
      };
    if (e.kind === 'call')
      return { kind: 'ref', ref: { name: e.callee, args: e.args, range: e.range } };
    return { kind: 'value', value: e };
  }

  private policy(node: CstNode): PolicyRef | undefined {
    const name = this.name(this.tok(node, 'name'));
    if (!name) return undefined;
    const argList = this.sub(node, 'argumentList');
    return { name, args: argList ? this.arguments(argList) : [], range: this.range(node) };
  }

  private arguments(node: CstNode): Argument[] {
    return this.subs(node, 'args').map((arg) => {
      const name = this.name(this.tok(arg, 'name'));
      return {
        ...(name ? { name } : {}),
        value: this.expressionOf(arg, 'value'),
        range: this.range(arg),
      };
    });
  }

  // ---- expressions ------------------------------------------------------------------------
  private missing(node: CstNode): Expr {
    return { kind: 'missing', range: this.range(node) };
  }

  private expressionOf(node: CstNode, label: string): Expr {
    const child = this.sub(node, label);
    return child ? this.expression(child) : this.missing(node);
  }

  /** Converts any expression-level node (by its rule name). */
  expression(node: CstNode): Expr {
    switch (node.name) {
      case 'expression': {
        const child = this.sub(node, 'conditional') ?? this.sub(node, 'disjunction');
        return child ? this.expression(child) : this.missing(node);
      }
      case 'conditional':
        return {
          kind: 'if',
          condition: this.expressionOf(node, 'condition'),
          then: this.expressionOf(node, 'then'),
          otherwise: this.expressionOf(node, 'otherwise'),
          range: this.range(node),
        };
      case 'disjunction':
      case 'conjunction':
      case 'comparison':
      case 'additive':
      case 'multiplicative':
        return this.leftAssociative(node);
      case 'negation': {
        const operand = this.expressionOf(node, 'operand');
        return this.tok(node, 'not')
          ? { kind: 'unary', op: 'not', operand, range: this.range(node) }
          : operand;
      }
      case 'unary': {
        const operand = this.expressionOf(node, 'operand');
        return this.tok(node, 'minus')
          ? { kind: 'unary', op: '-', operand, range: this.range(node) }
          : operand;
      }
      case 'power': {
        const base = this.expressionOf(node, 'base');
        const exponent = this.sub(node, 'exponent');
        return exponent
          ? {
              kind: 'binary',
              op: '^',
              left: base,
              right: this.expression(exponent),
              range: this.range(node),
            }
          : base;
      }
      case 'postfix':
        return this.postfix(node);
      case 'primary':
        return this.primary(node);
      case 'listLiteral':
        return {
          kind: 'list',
          items: this.subs(node, 'items').map((n) => this.expression(n)),
          range: this.range(node),
        };
      default:
        return this.missing(node);
    }
  }

  private leftAssociative(node: CstNode): Expr {
    const operands = this.subs(node, 'operands').map((n) => this.expression(n));
    const operators = this.toks(node, 'operators');
    let result = operands[0] ?? this.missing(node);
    for (let i = 0; i < operators.length; i++) {
      const right = operands[i + 1];
      const op = operators[i];
      if (!right || !op) break;
      result = {
        kind: 'binary',
        op: op.image as BinaryOperator,
        left: result,
        right,
        range: { start: result.range.start, end: right.range.end },
      };
    }
    return result;
  }

  private postfix(node: CstNode): Expr {
    const primary = this.sub(node, 'primary');
    let result = primary ? this.primary(primary) : this.missing(node);
    for (const suffix of this.subs(node, 'suffix')) {
      const end = this.range(suffix).end;
      if (suffix.name === 'indexSuffix') {
        const indices = this.subs(suffix, 'indices').map((n) => this.expression(n));
        result = {
          kind: 'index',
          target: result,
          indices,
          range: { start: result.range.start, end },
        };
      } else {
        const property = this.name(this.tok(suffix, 'property'));
        if (!property) continue;
        result = {
          kind: 'member',
          object: result,
          property,
          range: { start: result.range.start, end },
        };
      }
    }
    return result;
  }

  private primary(node: CstNode): Expr {
    const range = this.range(node);
    const number = this.tok(node, 'number');
    if (number) {
      const value = Number(number.image);
      if (!Number.isFinite(value)) {
        this.diagnostics.push(
          diagnostic(
            'E_NUMBER',
            this.path,
            tokenRange(number),
            numberTooLarge.message(number.image),
            numberTooLarge.hint,
          ),
        );
        return { kind: 'number', value: 0, text: number.image, range };
      }
      return { kind: 'number', value, text: number.image, range };
    }
    const string = this.tok(node, 'string');
    if (string) return { kind: 'string', value: this.string(string) ?? '', range };
    const bool = this.tok(node, 'bool');
    if (bool) return { kind: 'bool', value: bool.image === 'true', range };
    if (this.tok(node, 'inf'))
      return { kind: 'number', value: Number.POSITIVE_INFINITY, text: 'inf', range };
    const nameToken = this.tok(node, 'name');
    if (nameToken) {
      const name = this.name(nameToken);
      if (!name) return this.missing(node);
      const argList = this.sub(node, 'argumentList');
      if (argList) return { kind: 'call', callee: name, args: this.arguments(argList), range };
      return { kind: 'name', name: name.name, range };
    }
    const inner = this.sub(node, 'inner');
    if (inner) return { ...this.expression(inner), parenthesized: true };
    const list = this.sub(node, 'listLiteral');
    if (list) return this.expression(list);
    return this.missing(node);
  }
}

function collectTokens(node: CstNode): IToken[] {
  const out: IToken[] = [];
  for (const children of Object.values(node.children)) {
    for (const child of children) {
      if (isToken(child)) {
        if (validToken(child)) out.push(child);
      } else out.push(...collectTokens(child));
    }
  }
  return out.sort((a, b) => a.startOffset - b.startOffset);
}

export function unescapeString(image: string): string {
  const closed = /^"(?:[^"\\\n\r]|\\.)*"$/.test(image);
  const body = closed ? image.slice(1, -1) : image.slice(1);
  return body.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : c));
}

export function escapeString(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t')}"`;
}
