import { z } from 'zod';

z.config({ jitless: true });

export interface Position {
  readonly line: number;
  readonly column: number;
  readonly offset: number;
}
export interface Range {
  readonly start: Position;
  readonly end: Position;
}
export interface Name {
  readonly name: string;
  readonly range: Range;
}

export type BinaryOperator =
  | '+'
  | '-'
  | '*'
  | '/'
  | '%'
  | '^'
  | '<'
  | '<='
  | '>'
  | '>='
  | '=='
  | '!='
  | 'and'
  | 'or';

/**
 * An expression. `parenthesized` remembers that the user wrote it inside parentheses, so
 * printing (fmt, the manifest, diagram labels) keeps them even where precedence does not need
 * them; doubled parentheses are remembered once.
 */
export type Expr = ExprNode & { readonly parenthesized?: true };

type ExprNode =
  | {
      readonly kind: 'number';
      readonly value: number;
      readonly text: string;
      readonly range: Range;
    }
  | { readonly kind: 'string'; readonly value: string; readonly range: Range }
  | { readonly kind: 'bool'; readonly value: boolean; readonly range: Range }
  | { readonly kind: 'name'; readonly name: string; readonly range: Range }
  | {
      readonly kind: 'member';
      readonly object: Expr;
      readonly property: Name;
      readonly range: Range;
    }
  | { readonly kind: 'list'; readonly items: readonly Expr[]; readonly range: Range }
  | {
      readonly kind: 'unary';
      readonly op: '-' | 'not';
      readonly operand: Expr;
      readonly range: Range;
    }
  | {
      readonly kind: 'binary';
      readonly op: BinaryOperator;
      readonly left: Expr;
      readonly right: Expr;
      readonly range: Range;
    }
  | {
      readonly kind: 'call';
      readonly callee: Name;
      readonly args: readonly Argument[];
      readonly range: Range;
    }
  | {
      readonly kind: 'index';
      readonly target: Expr;
      readonly indices: readonly Expr[];
      readonly range: Range;
    }
  | {
      readonly kind: 'if';
      readonly condition: Expr;
      readonly then: Expr;
      readonly otherwise: Expr;
      readonly range: Range;
    }
  /** Left by error recovery where an expression was expected; never reaches the checker's users. */
  | { readonly kind: 'missing'; readonly range: Range };

export interface Argument {
  readonly name?: Name;
  readonly value: Expr;
  readonly range: Range;
}

/**
 * The two axes values range over inside the compiler: `firm` is the agent axis (firms of a
 * market, fishers of a commons, players, bidders), `product` the market's product axis.
 * An environment names its agent axis (`agents fisher = fishers`); sources write that name
 * and the checker maps it to `firm`.
 */
export type Axis = 'firm' | 'product';
export type BaseTypeName = 'number' | 'bool' | 'string';

export interface TypeAnnotation {
  readonly base?: BaseTypeName;
  /** `one of "first", "second"`: the strings the parameter may take (an option parameter). */
  readonly options?: readonly StringOption[];
  /** `list`: a list of numbers (or true/false values) read by position, `schedule[1]`. */
  readonly list?: true;
  /** Axis names as written: `firm`, `product`, or an environment's agent axis (`fisher`). */
  readonly axes: readonly string[];
  readonly range: Range;
}

/** A string written as one of an option parameter's options, where it is written. */
export interface StringOption {
  readonly value: string;
  readonly range: Range;
}

export interface ParamDecl {
  readonly kind: 'param';
  readonly name: Name;
  readonly type?: TypeAnnotation;
  readonly value: Expr;
  readonly doc?: string;
  readonly range: Range;
}

export type MarketItem =
  | ParamDecl
  | {
      readonly kind: 'firms';
      readonly count?: Expr;
      readonly names?: readonly Name[];
      readonly range: Range;
    }
  | { readonly kind: 'products'; readonly names: readonly Name[]; readonly range: Range }
  | { readonly kind: 'cost'; readonly value: Expr; readonly range: Range }
  | { readonly kind: 'capacity'; readonly value: Expr; readonly range: Range }
  | {
      readonly kind: 'action';
      readonly variable: Name;
      readonly low: Expr;
      readonly high: Expr;
      readonly range: Range;
    }
  | { readonly kind: 'price'; readonly value: Expr; readonly range: Range }
  | { readonly kind: 'demand'; readonly value: Expr; readonly range: Range }
  | { readonly kind: 'observe'; readonly items: readonly ObserveItem[]; readonly range: Range };

export interface ObserveItem {
  readonly own: boolean;
  readonly name: Name;
  readonly range: Range;
}

export interface MarketDecl {
  readonly kind: 'market';
  readonly name: Name;
  readonly title?: string;
  readonly items: readonly MarketItem[];
  readonly range: Range;
}

/**
 * An item of an `environment` declaration: a world written in the language. Every round,
 * its `let`s, `payoff`, `next` values and `end` condition are evaluated with the state at
 * the round's start and the agents' actions.
 */
export type EnvironmentItem =
  | ParamDecl
  /** `agents fisher = fishers` (a counted axis) or `agents player: ann, bob` (named agents). */
  | {
      readonly kind: 'agents';
      readonly axis: Name;
      readonly count?: Expr;
      readonly names?: readonly Name[];
      readonly range: Range;
    }
  /** `action harvest in [0, capacity]`, `action effort in [1, levels] step 1`, `action move one of stay, go`. */
  | {
      readonly kind: 'action';
      readonly variable: Name;
      readonly low?: Expr;
      readonly high?: Expr;
      readonly step?: Expr;
      readonly options?: readonly Name[];
      readonly range: Range;
    }
  /** `state fish = stock`: a state variable and its value before round 1. */
  | { readonly kind: 'state'; readonly name: Name; readonly value: Expr; readonly range: Range }
  /** `let taken = …`: a value of each round, named for the expressions after it. */
  | { readonly kind: 'let'; readonly name: Name; readonly value: Expr; readonly range: Range }
  | { readonly kind: 'payoff'; readonly value: Expr; readonly range: Range }
  /** `next fish = …`: the state variable's value in the next round. */
  | { readonly kind: 'next'; readonly name: Name; readonly value: Expr; readonly range: Range }
  /** `end when …`: the run ends after a round in which this holds. */
  | { readonly kind: 'end'; readonly condition: Expr; readonly range: Range }
  | { readonly kind: 'observe'; readonly items: readonly ObserveItem[]; readonly range: Range }
  /**
   * `benchmark NAME = ACTION "doc"`, `policy NAME = ACTION "doc"`, `metric NAME = VALUE "doc"`,
   * `draw NAME = uniform(LOW, HIGH) "doc"` (a per-agent number drawn afresh each round).
   */
  | {
      readonly kind: 'benchmark' | 'policy' | 'metric' | 'draw';
      readonly name: Name;
      /** `policy shade(f = 0.8) = f * value`: arguments and their defaults (policies only). */
      readonly params?: readonly DefaultedParameter[];
      /** Absent only as written (`benchmark social "doc"`): computed by the environment's code kind. */
      readonly value?: Expr;
      readonly doc?: string;
      readonly range: Range;
    }
  /** `kind NAME`: the round is computed by the code kind NAME (runtime/environment/kinds.ts). */
  | { readonly kind: 'kind'; readonly name: Name; readonly range: Range }
  /** `computed NAME [per AXIS] "doc"`: a number the code kind computes each round. */
  | {
      readonly kind: 'computed';
      readonly name: Name;
      readonly axis?: Name;
      readonly doc?: string;
      readonly range: Range;
    };

/** A piece of a live notice: literal text, or an expression written `{…}`. */
export type NoticePart = { readonly text: string } | { readonly expr: Expr };

/** `NAME = DEFAULT` in a declared policy's argument list. */
export interface DefaultedParameter {
  readonly name: Name;
  readonly value: Expr;
  readonly range: Range;
}

export interface EnvironmentDecl {
  readonly kind: 'environment';
  readonly name: Name;
  readonly title?: string;
  readonly items: readonly EnvironmentItem[];
  readonly range: Range;
}

export interface TransitionOptions {
  readonly priority?: Expr;
  readonly rule?: Name;
  readonly restore: boolean;
  /** `then add offences 1, reset credits`: counter changes made when the transition fires. */
  readonly changes?: readonly CounterChange[];
}

/** `add NAME E`, `reset NAME` (to its initial value), `decay NAME E` (loses the share E). */
export interface CounterChange {
  readonly change: 'add' | 'reset' | 'decay';
  readonly counter: Name;
  readonly amount?: Expr;
  readonly range: Range;
}

/** `counter NAME [= INITIAL] ["doc"]`: a number kept per machine (per firm, or the market's). */
export interface CounterDecl {
  readonly kind: 'counter';
  readonly name: Name;
  readonly initial?: Expr;
  readonly doc?: string;
  readonly range: Range;
}

export type Deontic = 'must' | 'must not' | 'may';

export interface RuleDecl {
  readonly kind: 'rule';
  readonly id: Name;
  readonly title?: string;
  readonly attribute: Name;
  readonly deontic: Deontic;
  readonly aim: string;
  readonly orElse?: string;
  readonly range: Range;
}

export interface MonitorDecl {
  readonly kind: 'monitor';
  readonly name: Name;
  readonly value: Expr;
  readonly detection?: Expr;
  readonly falsePositive?: Expr;
  readonly range: Range;
}

export type StateItem =
  | {
      readonly kind: 'when';
      readonly guard: Expr;
      readonly forRounds?: Expr;
      readonly target: Name;
      readonly options: TransitionOptions;
      readonly range: Range;
    }
  | {
      readonly kind: 'after';
      readonly rounds: Expr;
      readonly while?: Expr;
      readonly target: Name;
      readonly options: TransitionOptions;
      readonly range: Range;
    }
  /**
   * `notice "You owe {amount}"`: the text as written, and (when it has `{…}`) its parts, each
   * literal text or an expression evaluated when the notice is given (`{{`, `}}`: a brace).
   */
  | {
      readonly kind: 'notice';
      readonly text: string;
      readonly parts?: readonly NoticePart[];
      /** `each round notice "…"`: given in every round adjudicated in the state, not on entry. */
      readonly eachRound?: true;
      readonly range: Range;
    }
  | {
      readonly kind: 'sanction';
      readonly sanction: 'fine' | 'credit';
      readonly timing: 'entry' | 'each_round';
      /** Written `each round after entry`: the timing of `each round`, the free round of entry said explicitly. */
      readonly afterEntry?: true;
      readonly amount: Expr;
      readonly range: Range;
    }
  | { readonly kind: 'cap'; readonly value: Expr; readonly range: Range }
  | { readonly kind: 'floor'; readonly value: Expr; readonly range: Range }
  | { readonly kind: 'suspend'; readonly range: Range }
  /** `mute`: the agent's messages are not delivered; `quarantine`: none in or out either. */
  | { readonly kind: 'mute' | 'quarantine'; readonly range: Range }
  /** `paraphrase ["MODEL"]`: each is rewritten before it is delivered, by MODEL when named. */
  | { readonly kind: 'paraphrase'; readonly model?: string; readonly range: Range }
  /** A counter change on entry, or in every round adjudicated in the state (`each round`). */
  | ({ readonly kind: 'change'; readonly timing: 'entry' | 'each_round' } & CounterChange);

export interface StateDecl {
  readonly kind: 'state';
  readonly name: Name;
  readonly title?: string;
  readonly initial: boolean;
  readonly items: readonly StateItem[];
  readonly range: Range;
}

export type InstitutionItem =
  | ParamDecl
  | {
      readonly kind: 'scope';
      readonly scope: 'firm' | 'market';
      /** The agent axis as written after `per` when it is not `firm` (`scope per fisher`). */
      readonly axis?: Name;
      readonly range: Range;
    }
  | { readonly kind: 'visibility'; readonly public: boolean; readonly range: Range }
  | { readonly kind: 'directive'; readonly text: string; readonly range: Range }
  | MonitorDecl
  | RuleDecl
  | StateDecl
  | CounterDecl
  | FilterDecl;

/** `filter when CONDITION ["reason"]`: each message is checked on its own before delivery. */
export interface FilterDecl {
  readonly kind: 'filter';
  readonly condition: Expr;
  readonly reason?: string;
  readonly range: Range;
}

export interface InstitutionDecl {
  readonly kind: 'institution';
  readonly name: Name;
  readonly title?: string;
  readonly items: readonly InstitutionItem[];
  readonly range: Range;
}

export interface PolicyRef {
  readonly name: Name;
  readonly args: readonly Argument[];
  readonly range: Range;
}

export type ExperimentItem =
  | {
      readonly kind: 'use';
      readonly role: 'market' | 'institution' | 'environment';
      readonly target: Name;
      readonly args: readonly Argument[];
      readonly range: Range;
    }
  | {
      readonly kind: 'agents';
      readonly all?: PolicyRef;
      readonly perFirm: readonly { readonly firm: Name; readonly policy: PolicyRef }[];
      readonly range: Range;
    }
  | { readonly kind: 'rounds'; readonly value: Expr; readonly range: Range }
  | { readonly kind: 'seeds'; readonly from: Expr; readonly to?: Expr; readonly range: Range }
  /** `horizon known` or `horizon unknown`: whether agents are told the number of rounds. */
  | { readonly kind: 'horizon'; readonly value: Name; readonly range: Range }
  /** `continuation p`: after each round the run goes on with probability p. */
  | { readonly kind: 'continuation'; readonly value: Expr; readonly range: Range }
  /** `checkpoint every k`: the run writes a checkpoint every k rounds (0: none; docs/checkpoints.md). */
  | { readonly kind: 'checkpoint'; readonly value: Expr; readonly range: Range }
  /** `talk ring(rounds: 2)`: who may talk to whom before acting (the runtime defines topologies). */
  | { readonly kind: 'talk'; readonly spec: PolicyRef; readonly range: Range };

export interface ExperimentDecl {
  readonly kind: 'experiment';
  readonly name: Name;
  readonly title?: string;
  readonly items: readonly ExperimentItem[];
  readonly range: Range;
}

/**
 * One level of a sweep factor as written: a literal (`0.5`, `"x"`, `[1, 2]`, `-1`, `inf`),
 * or a name with optional arguments (`none`, `governance_graph(fine_share: 0.5)`).
 * Which of the two a target takes is the checker's business.
 */
export type FactorLevel =
  | { readonly kind: 'value'; readonly value: Expr }
  | { readonly kind: 'ref'; readonly ref: PolicyRef };

/** `factor [NAME:] TARGET[.MEMBER] = LEVEL | …` or `factor [NAME:] TARGET[.MEMBER] in [LOW, HIGH]`. */
export interface FactorDecl {
  readonly kind: 'factor';
  /** The column name, when written (`factor regime: institution = …`). */
  readonly name?: Name;
  /** `market`, `institution`, `agents`, `rounds`, `memory`, `talk`, `horizon`, `continuation`. */
  readonly target: Name;
  /** The parameter of `market.PARAM` / `institution.PARAM`, the firm of `agents.FIRM`. */
  readonly member?: Name;
  readonly levels?: readonly FactorLevel[];
  readonly bounds?: { readonly low: Expr; readonly high: Expr; readonly range: Range };
  readonly range: Range;
}

export type SweepItem =
  | { readonly kind: 'base'; readonly experiment: Name; readonly range: Range }
  | FactorDecl
  /** `design grid`, `design random(20)`, `design latin_hypercube(20)`. */
  | { readonly kind: 'design'; readonly design: PolicyRef; readonly range: Range }
  | { readonly kind: 'replicates'; readonly value: Expr; readonly range: Range }
  | { readonly kind: 'seed'; readonly value: Expr; readonly range: Range }
  /** `budget tokens N cost X`: the limits in the order written. */
  | {
      readonly kind: 'budget';
      readonly limits: readonly {
        readonly limit: 'tokens' | 'cost';
        readonly value: Expr;
        readonly range: Range;
      }[];
      readonly range: Range;
    };

export interface SweepDecl {
  readonly kind: 'sweep';
  readonly name: Name;
  readonly title?: string;
  readonly items: readonly SweepItem[];
  readonly range: Range;
}

/**
 * One change of an `intervention` (docs/checkpoints.md): what `mase fork`'s flags change,
 * written as text. `institution NAME(…)` and `agents …` are written as in an experiment.
 */
export type InterventionItem =
  | Extract<ExperimentItem, { readonly kind: 'use' | 'agents' }>
  /** `drop message "m12.1.1"`. */
  | { readonly kind: 'drop_message'; readonly id: string; readonly range: Range }
  /** `replace message "m12.1.1" "text"`. */
  | {
      readonly kind: 'replace_message';
      readonly id: string;
      readonly text: string;
      readonly range: Range;
    }
  /** `inject message world -> f2, f3 "text"` (`-> *`: to every agent). */
  | {
      readonly kind: 'inject_message';
      readonly from: Name;
      /** Absent: every agent (`*`). */
      readonly to?: readonly Name[];
      readonly text: string;
      readonly range: Range;
    }
  /** `mute f1 -> f2` (one way) or `mute f1 - f2` (both ways). */
  | {
      readonly kind: 'mute';
      readonly from: Name;
      readonly to: Name;
      readonly both: boolean;
      readonly range: Range;
    }
  /** `reset memory f1, f2`. */
  | { readonly kind: 'reset'; readonly agents: readonly Name[]; readonly range: Range }
  /** `benchmark action f2 round 12`. */
  | {
      readonly kind: 'benchmark_action';
      readonly agent: Name;
      readonly round: Expr;
      readonly range: Range;
    }
  /** `pardon f2 round 12`: the institution disregards the evidence against f2 in round 12. */
  | { readonly kind: 'pardon'; readonly agent: Name; readonly round: Expr; readonly range: Range }
  /** `param fine_share = 0.7`: a parameter of the institution governing from the fork on. */
  | { readonly kind: 'param'; readonly name: Name; readonly value: Expr; readonly range: Range };

export interface InterventionDecl {
  readonly kind: 'intervention';
  readonly name: Name;
  readonly title?: string;
  readonly items: readonly InterventionItem[];
  readonly range: Range;
}

export type Declaration =
  | MarketDecl
  | EnvironmentDecl
  | InstitutionDecl
  | ExperimentDecl
  | SweepDecl
  | InterventionDecl;

export interface Comment {
  readonly text: string;
  readonly range: Range;
}

/** `import "path.mase"` or `import "stdlib:NAME"`: the spec as written (unescaped). */
export interface ImportItem {
  readonly kind: 'import';
  readonly spec: string;
  readonly range: Range;
}

export interface SourceFile {
  readonly kind: 'file';
  readonly path: string;
  readonly version?: { readonly value: number; readonly range: Range };
  /** Present when the file imports anything. */
  readonly imports?: readonly ImportItem[];
  readonly declarations: readonly Declaration[];
  readonly comments: readonly Comment[];
  readonly range: Range;
}

// ---------------------------------------------------------------------------
// zod schemas: the AST is checked against these after CST→AST conversion, so a
// malformed node is an internal error caught at the phase boundary.

// `inf` is a number in MASE; zod's z.number() refuses infinities, so say what is allowed.
const numberValue = z.custom<number>(
  (v) => typeof v === 'number' && !Number.isNaN(v),
  'a number or inf',
);
const position = z.object({ line: z.int().min(1), column: z.int().min(1), offset: z.int().min(0) });
export const rangeSchema = z.object({ start: position, end: position });
const nameSchema = z.object({ name: z.string(), range: rangeSchema });

const parenthesized = { parenthesized: z.literal(true).optional() };

export const exprSchema: z.ZodType<Expr> = z.lazy(() =>
  z.discriminatedUnion('kind', [
    z.object({
      kind: z.literal('number'),
      value: numberValue,
      text: z.string(),
      range: rangeSchema,
      ...parenthesized,
    }),
    z.object({
      kind: z.literal('string'),
      value: z.string(),
      range: rangeSchema,
      ...parenthesized,
    }),
    z.object({ kind: z.literal('bool'), value: z.boolean(), range: rangeSchema, ...parenthesized }),
    z.object({ kind: z.literal('name'), name: z.string(), range: rangeSchema, ...parenthesized }),
    z.object({
      kind: z.literal('member'),
      object: exprSchema,
      property: nameSchema,
      range: rangeSchema,
      ...parenthesized,
    }),
    z.object({
      kind: z.literal('list'),
      items: z.array(exprSchema),
      range: rangeSchema,
      ...parenthesized,
    }),
    z.object({
      kind: z.literal('unary'),
      op: z.enum(['-', 'not']),
      operand: exprSchema,
      range: rangeSchema,
      ...parenthesized,
    }),
    z.object({
      kind: z.literal('binary'),
      op: z.enum(['+', '-', '*', '/', '%', '^', '<', '<=', '>', '>=', '==', '!=', 'and', 'or']),
      left: exprSchema,
      right: exprSchema,
      range: rangeSchema,
      ...parenthesized,
    }),
    z.object({
      kind: z.literal('call'),
      callee: nameSchema,
      args: z.array(argumentSchema),
      range: rangeSchema,
      ...parenthesized,
    }),
    z.object({
      kind: z.literal('index'),
      target: exprSchema,
      indices: z.array(exprSchema),
      range: rangeSchema,
      ...parenthesized,
    }),
    z.object({
      kind: z.literal('if'),
      condition: exprSchema,
      then: exprSchema,
      otherwise: exprSchema,
      range: rangeSchema,
      ...parenthesized,
    }),
    z.object({ kind: z.literal('missing'), range: rangeSchema, ...parenthesized }),
  ]),
);

const argumentSchema: z.ZodType<Argument> = z.lazy(() =>
  z.object({ name: nameSchema.optional(), value: exprSchema, range: rangeSchema }),
);

const paramSchema = z.object({
  kind: z.literal('param'),
  name: nameSchema,
  type: z
    .object({
      base: z.enum(['number', 'bool', 'string']).optional(),
      options: z.array(z.object({ value: z.string(), range: rangeSchema })).optional(),
      list: z.literal(true).optional(),
      axes: z.array(z.string()),
      range: rangeSchema,
    })
    .optional(),
  value: exprSchema,
  doc: z.string().optional(),
  range: rangeSchema,
});

const exprItem = <K extends string>(kind: K) =>
  z.object({ kind: z.literal(kind), value: exprSchema, range: rangeSchema });

const marketSchema = z.object({
  kind: z.literal('market'),
  name: nameSchema,
  title: z.string().optional(),
  items: z.array(
    z.discriminatedUnion('kind', [
      paramSchema,
      z.object({
        kind: z.literal('firms'),
        count: exprSchema.optional(),
        names: z.array(nameSchema).optional(),
        range: rangeSchema,
      }),
      z.object({ kind: z.literal('products'), names: z.array(nameSchema), range: rangeSchema }),
      exprItem('cost'),
      exprItem('capacity'),
      z.object({
        kind: z.literal('action'),
        variable: nameSchema,
        low: exprSchema,
        high: exprSchema,
        range: rangeSchema,
      }),
      exprItem('price'),
      exprItem('demand'),
      z.object({
        kind: z.literal('observe'),
        items: z.array(z.object({ own: z.boolean(), name: nameSchema, range: rangeSchema })),
        range: rangeSchema,
      }),
    ]),
  ),
  range: rangeSchema,
});

const namedExpr = <K extends string>(kind: K) =>
  z.object({ kind: z.literal(kind), name: nameSchema, value: exprSchema, range: rangeSchema });
const documented = (kind: 'benchmark' | 'policy' | 'metric' | 'draw') =>
  namedExpr(kind).extend({
    value: exprSchema.optional(),
    params: z
      .array(z.object({ name: nameSchema, value: exprSchema, range: rangeSchema }))
      .optional(),
    doc: z.string().optional(),
  });

const environmentSchema = z.object({
  kind: z.literal('environment'),
  name: nameSchema,
  title: z.string().optional(),
  items: z.array(
    z.discriminatedUnion('kind', [
      paramSchema,
      z.object({
        kind: z.literal('agents'),
        axis: nameSchema,
        count: exprSchema.optional(),
        names: z.array(nameSchema).optional(),
        range: rangeSchema,
      }),
      z.object({
        kind: z.literal('action'),
        variable: nameSchema,
        low: exprSchema.optional(),
        high: exprSchema.optional(),
        step: exprSchema.optional(),
        options: z.array(nameSchema).optional(),
        range: rangeSchema,
      }),
      namedExpr('state'),
      namedExpr('let'),
      exprItem('payoff'),
      namedExpr('next'),
      z.object({ kind: z.literal('end'), condition: exprSchema, range: rangeSchema }),
      z.object({
        kind: z.literal('observe'),
        items: z.array(z.object({ own: z.boolean(), name: nameSchema, range: rangeSchema })),
        range: rangeSchema,
      }),
      documented('benchmark'),
      documented('policy'),
      documented('metric'),
      documented('draw'),
      z.object({ kind: z.literal('kind'), name: nameSchema, range: rangeSchema }),
      z.object({
        kind: z.literal('computed'),
        name: nameSchema,
        axis: nameSchema.optional(),
        doc: z.string().optional(),
        range: rangeSchema,
      }),
    ]),
  ),
  range: rangeSchema,
});

const counterChangeShape = {
  change: z.enum(['add', 'reset', 'decay']),
  counter: nameSchema,
  amount: exprSchema.optional(),
  range: rangeSchema,
};

const transitionOptions = z.object({
  priority: exprSchema.optional(),
  rule: nameSchema.optional(),
  restore: z.boolean(),
  changes: z.array(z.object(counterChangeShape)).optional(),
});

const institutionSchema = z.object({
  kind: z.literal('institution'),
  name: nameSchema,
  title: z.string().optional(),
  items: z.array(
    z.discriminatedUnion('kind', [
      paramSchema,
      z.object({
        kind: z.literal('scope'),
        scope: z.enum(['firm', 'market']),
        axis: nameSchema.optional(),
        range: rangeSchema,
      }),
      z.object({ kind: z.literal('visibility'), public: z.boolean(), range: rangeSchema }),
      z.object({ kind: z.literal('directive'), text: z.string(), range: rangeSchema }),
      z.object({
        kind: z.literal('monitor'),
        name: nameSchema,
        value: exprSchema,
        detection: exprSchema.optional(),
        falsePositive: exprSchema.optional(),
        range: rangeSchema,
      }),
      z.object({
        kind: z.literal('rule'),
        id: nameSchema,
        title: z.string().optional(),
        attribute: nameSchema,
        deontic: z.enum(['must', 'must not', 'may']),
        aim: z.string(),
        orElse: z.string().optional(),
        range: rangeSchema,
      }),
      z.object({
        kind: z.literal('state'),
        name: nameSchema,
        title: z.string().optional(),
        initial: z.boolean(),
        items: z.array(
          z.discriminatedUnion('kind', [
            z.object({
              kind: z.literal('when'),
              guard: exprSchema,
              forRounds: exprSchema.optional(),
              target: nameSchema,
              options: transitionOptions,
              range: rangeSchema,
            }),
            z.object({
              kind: z.literal('after'),
              rounds: exprSchema,
              while: exprSchema.optional(),
              target: nameSchema,
              options: transitionOptions,
              range: rangeSchema,
            }),
            z.object({
              kind: z.literal('notice'),
              text: z.string(),
              parts: z
                .array(z.union([z.object({ text: z.string() }), z.object({ expr: exprSchema })]))
                .optional(),
              eachRound: z.literal(true).optional(),
              range: rangeSchema,
            }),
            z.object({
              kind: z.literal('sanction'),
              sanction: z.enum(['fine', 'credit']),
              timing: z.enum(['entry', 'each_round']),
              afterEntry: z.literal(true).optional(),
              amount: exprSchema,
              range: rangeSchema,
            }),
            exprItem('cap'),
            exprItem('floor'),
            z.object({ kind: z.literal('suspend'), range: rangeSchema }),
            z.object({ kind: z.literal('mute'), range: rangeSchema }),
            z.object({ kind: z.literal('quarantine'), range: rangeSchema }),
            z.object({
              kind: z.literal('paraphrase'),
              model: z.string().optional(),
              range: rangeSchema,
            }),
            z.object({
              kind: z.literal('change'),
              timing: z.enum(['entry', 'each_round']),
              ...counterChangeShape,
            }),
          ]),
        ),
        range: rangeSchema,
      }),
      z.object({
        kind: z.literal('counter'),
        name: nameSchema,
        initial: exprSchema.optional(),
        doc: z.string().optional(),
        range: rangeSchema,
      }),
      z.object({
        kind: z.literal('filter'),
        condition: exprSchema,
        reason: z.string().optional(),
        range: rangeSchema,
      }),
    ]),
  ),
  range: rangeSchema,
});

const policySchema = z.object({
  name: nameSchema,
  args: z.array(argumentSchema),
  range: rangeSchema,
});

/** `market|institution|environment NAME(args)`: an experiment's, and an intervention's institution. */
const useItemSchema = z.object({
  kind: z.literal('use'),
  role: z.enum(['market', 'institution', 'environment']),
  target: nameSchema,
  args: z.array(argumentSchema),
  range: rangeSchema,
});

/** `agents POLICY` or `agents a1 = POLICY, …`: an experiment's, and an intervention's. */
const agentsItemSchema = z.object({
  kind: z.literal('agents'),
  all: policySchema.optional(),
  perFirm: z.array(z.object({ firm: nameSchema, policy: policySchema })),
  range: rangeSchema,
});

const experimentSchema = z.object({
  kind: z.literal('experiment'),
  name: nameSchema,
  title: z.string().optional(),
  items: z.array(
    z.discriminatedUnion('kind', [
      useItemSchema,
      agentsItemSchema,
      exprItem('rounds'),
      z.object({
        kind: z.literal('seeds'),
        from: exprSchema,
        to: exprSchema.optional(),
        range: rangeSchema,
      }),
      z.object({ kind: z.literal('horizon'), value: nameSchema, range: rangeSchema }),
      z.object({ kind: z.literal('talk'), spec: policySchema, range: rangeSchema }),
      exprItem('continuation'),
      exprItem('checkpoint'),
    ]),
  ),
  range: rangeSchema,
});

const sweepSchema = z.object({
  kind: z.literal('sweep'),
  name: nameSchema,
  title: z.string().optional(),
  items: z.array(
    z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('base'), experiment: nameSchema, range: rangeSchema }),
      z.object({
        kind: z.literal('factor'),
        name: nameSchema.optional(),
        target: nameSchema,
        member: nameSchema.optional(),
        levels: z
          .array(
            z.discriminatedUnion('kind', [
              z.object({ kind: z.literal('value'), value: exprSchema }),
              z.object({ kind: z.literal('ref'), ref: policySchema }),
            ]),
          )
          .optional(),
        bounds: z.object({ low: exprSchema, high: exprSchema, range: rangeSchema }).optional(),
        range: rangeSchema,
      }),
      z.object({ kind: z.literal('design'), design: policySchema, range: rangeSchema }),
      exprItem('replicates'),
      exprItem('seed'),
      z.object({
        kind: z.literal('budget'),
        limits: z.array(
          z.object({
            limit: z.enum(['tokens', 'cost']),
            value: exprSchema,
            range: rangeSchema,
          }),
        ),
        range: rangeSchema,
      }),
    ]),
  ),
  range: rangeSchema,
});

const interventionSchema = z.object({
  kind: z.literal('intervention'),
  name: nameSchema,
  title: z.string().optional(),
  items: z.array(
    z.discriminatedUnion('kind', [
      useItemSchema,
      agentsItemSchema,
      z.object({ kind: z.literal('drop_message'), id: z.string(), range: rangeSchema }),
      z.object({
        kind: z.literal('replace_message'),
        id: z.string(),
        text: z.string(),
        range: rangeSchema,
      }),
      z.object({
        kind: z.literal('inject_message'),
        from: nameSchema,
        to: z.array(nameSchema).optional(),
        text: z.string(),
        range: rangeSchema,
      }),
      z.object({
        kind: z.literal('mute'),
        from: nameSchema,
        to: nameSchema,
        both: z.boolean(),
        range: rangeSchema,
      }),
      z.object({ kind: z.literal('reset'), agents: z.array(nameSchema), range: rangeSchema }),
      z.object({
        kind: z.literal('benchmark_action'),
        agent: nameSchema,
        round: exprSchema,
        range: rangeSchema,
      }),
      z.object({
        kind: z.literal('pardon'),
        agent: nameSchema,
        round: exprSchema,
        range: rangeSchema,
      }),
      z.object({
        kind: z.literal('param'),
        name: nameSchema,
        value: exprSchema,
        range: rangeSchema,
      }),
    ]),
  ),
  range: rangeSchema,
});

export const sourceFileSchema = z.object({
  kind: z.literal('file'),
  path: z.string(),
  version: z.object({ value: z.number(), range: rangeSchema }).optional(),
  imports: z
    .array(z.object({ kind: z.literal('import'), spec: z.string(), range: rangeSchema }))
    .optional(),
  declarations: z.array(
    z.discriminatedUnion('kind', [
      marketSchema,
      environmentSchema,
      institutionSchema,
      experimentSchema,
      sweepSchema,
      interventionSchema,
    ]),
  ),
  comments: z.array(z.object({ text: z.string(), range: rangeSchema })),
  range: rangeSchema,
});
