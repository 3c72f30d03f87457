import type { CstNode } from 'chevrotain';
import { chevrotain } from './chevrotain.js';

const { CstParser, EOF: EofToken } = chevrotain;

import * as T from './tokens.js';

const { soft: K, hard: H } = T;

/**
 * The concrete syntax of MASE. Rules are class fields (Chevrotain's style); the CST they
 * build is turned into the typed AST by cst-to-ast.ts. Error recovery is on, so one
 * typo yields one diagnostic and the rest of the file is still parsed.
 */
export class MaseParser extends CstParser {
  constructor() {
    super(T.allTokens, { recoveryEnabled: true, maxLookahead: 3, nodeLocationTracking: 'full' });
    this.performSelfAnalysis();
  }

  file = this.RULE('file', () => {
    this.OPTION(() => {
      this.CONSUME(K.mase);
      this.CONSUME(T.NumberLiteral, { LABEL: 'version' });
    });
    // Imports belong above the declarations; one below them is read, then refused (cst-to-ast).
    this.MANY(() =>
      this.OR([
        { ALT: () => this.SUBRULE(this.importItem) },
        { ALT: () => this.SUBRULE(this.declaration) },
      ]),
    );
  });

  importItem = this.RULE('importItem', () => {
    this.CONSUME(K.import);
    this.CONSUME(T.StringLiteral, { LABEL: 'spec' });
  });

  declaration = this.RULE('declaration', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.market) },
      { ALT: () => this.SUBRULE(this.environment) },
      { ALT: () => this.SUBRULE(this.institution) },
      { ALT: () => this.SUBRULE(this.experiment) },
      { ALT: () => this.SUBRULE(this.sweep) },
      { ALT: () => this.SUBRULE(this.intervention) },
    ]);
  });

  // ---- markets --------------------------------------------------------------------------
  market = this.RULE('market', () => {
    this.CONSUME(K.market);
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.OPTION(() => this.CONSUME(T.StringLiteral, { LABEL: 'title' }));
    this.CONSUME(T.LBrace);
    this.MANY(() => this.SUBRULE(this.marketItem));
    this.CONSUME(T.RBrace);
  });

  marketItem = this.RULE('marketItem', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.param) },
      { ALT: () => this.SUBRULE(this.firmsItem) },
      { ALT: () => this.SUBRULE(this.productsItem) },
      { ALT: () => this.SUBRULE(this.assignItem) },
      { ALT: () => this.SUBRULE(this.actionItem) },
      { ALT: () => this.SUBRULE(this.observeItem) },
    ]);
  });

  param = this.RULE('param', () => {
    this.CONSUME(K.param);
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.OPTION(() => {
      this.CONSUME(T.Colon);
      this.SUBRULE(this.typeAnnotation);
    });
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expression, { LABEL: 'value' });
    this.OPTION2(() => this.CONSUME(T.StringLiteral, { LABEL: 'doc' }));
  });

  typeAnnotation = this.RULE('typeAnnotation', () => {
    this.OPTION(() =>
      this.OR([
        { ALT: () => this.CONSUME(K.number, { LABEL: 'base' }) },
        { ALT: () => this.CONSUME(K.bool, { LABEL: 'base' }) },
        { ALT: () => this.CONSUME(K.string, { LABEL: 'base' }) },
        // `list`: a list indexed by position (`schedule[1]`), not by firm or product.
        { ALT: () => this.CONSUME(K.list, { LABEL: 'list' }) },
        {
          // `one of "first", "second"`: a string that must be one of these (an option parameter).
          ALT: () => {
            this.CONSUME(K.one);
            this.CONSUME(K.of);
            this.AT_LEAST_ONE_SEP({
              SEP: T.Comma,
              DEF: () => this.CONSUME(T.StringLiteral, { LABEL: 'option' }),
            });
          },
        },
      ]),
    );
    this.MANY(() => {
      this.CONSUME(K.per);
      // `firm`, `product`, or an environment's agent axis (`per fisher`).
      this.CONSUME(T.Identifier, { LABEL: 'axis' });
    });
  });

  firmsItem = this.RULE('firmsItem', () => {
    this.CONSUME(K.firms);
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Equals);
          this.SUBRULE(this.expression, { LABEL: 'count' });
        },
      },
      { ALT: () => this.SUBRULE(this.nameList) },
    ]);
  });

  productsItem = this.RULE('productsItem', () => {
    this.CONSUME(K.products);
    this.SUBRULE(this.nameList);
  });

  nameList = this.RULE('nameList', () => {
    this.AT_LEAST_ONE_SEP({
      SEP: T.Comma,
      DEF: () => this.CONSUME(T.Identifier, { LABEL: 'name' }),
    });
  });

  assignItem = this.RULE('assignItem', () => {
    this.OR([
      { ALT: () => this.CONSUME(K.cost, { LABEL: 'key' }) },
      { ALT: () => this.CONSUME(K.capacity, { LABEL: 'key' }) },
      { ALT: () => this.CONSUME(K.price, { LABEL: 'key' }) },
      { ALT: () => this.CONSUME(K.demand, { LABEL: 'key' }) },
    ]);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expression, { LABEL: 'value' });
  });

  actionItem = this.RULE('actionItem', () => {
    this.CONSUME(K.action);
    this.CONSUME(T.Identifier, { LABEL: 'variable' });
    this.CONSUME(H.in);
    this.CONSUME(T.LBracket);
    this.SUBRULE(this.expression, { LABEL: 'low' });
    this.CONSUME(T.Comma);
    this.SUBRULE2(this.expression, { LABEL: 'high' });
    this.CONSUME(T.RBracket);
  });

  observeItem = this.RULE('observeItem', () => {
    this.CONSUME(K.observe);
    this.AT_LEAST_ONE_SEP({
      SEP: T.Comma,
      DEF: () => this.SUBRULE(this.observed),
    });
  });

  observed = this.RULE('observed', () => {
    this.OPTION(() => this.CONSUME(K.own));
    this.CONSUME(T.Identifier, { LABEL: 'name' });
  });

  // ---- environments ---------------------------------------------------------------------
  environment = this.RULE('environment', () => {
    this.CONSUME(K.environment);
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.OPTION(() => this.CONSUME(T.StringLiteral, { LABEL: 'title' }));
    this.CONSUME(T.LBrace);
    this.MANY(() => this.SUBRULE(this.environmentItem));
    this.CONSUME(T.RBrace);
  });

  environmentItem = this.RULE('environmentItem', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.param) },
      { ALT: () => this.SUBRULE(this.agentAxisItem) },
      { ALT: () => this.SUBRULE(this.environmentAction) },
      { ALT: () => this.SUBRULE(this.namedValueItem) },
      { ALT: () => this.SUBRULE(this.payoffItem) },
      { ALT: () => this.SUBRULE(this.endItem) },
      { ALT: () => this.SUBRULE(this.observeItem) },
      { ALT: () => this.SUBRULE(this.documentedItem) },
      { ALT: () => this.SUBRULE(this.kindItem) },
      { ALT: () => this.SUBRULE(this.computedItem) },
    ]);
  });

  // `kind NAME`: the environment's round is computed by the code kind NAME.
  kindItem = this.RULE('kindItem', () => {
    this.CONSUME(K.kind);
    this.CONSUME(T.Identifier, { LABEL: 'name' });
  });

  // `computed NAME [per AXIS] "doc"`: a value the code kind computes each round.
  computedItem = this.RULE('computedItem', () => {
    this.CONSUME(K.computed);
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.OPTION(() => {
      this.CONSUME(K.per);
      this.CONSUME2(T.Identifier, { LABEL: 'axis' });
    });
    this.OPTION2(() => this.CONSUME(T.StringLiteral, { LABEL: 'doc' }));
  });

  agentAxisItem = this.RULE('agentAxisItem', () => {
    this.CONSUME(K.agents);
    this.CONSUME(T.Identifier, { LABEL: 'axis' });
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Equals);
          this.SUBRULE(this.expression, { LABEL: 'count' });
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.Colon);
          this.SUBRULE(this.nameList);
        },
      },
    ]);
  });

  environmentAction = this.RULE('environmentAction', () => {
    this.CONSUME(K.action);
    this.CONSUME(T.Identifier, { LABEL: 'variable' });
    this.OR([
      {
        ALT: () => {
          this.CONSUME(H.in);
          this.CONSUME(T.LBracket);
          this.SUBRULE(this.expression, { LABEL: 'low' });
          this.CONSUME(T.Comma);
          this.SUBRULE2(this.expression, { LABEL: 'high' });
          this.CONSUME(T.RBracket);
          this.OPTION(() => {
            this.CONSUME(K.step);
            this.SUBRULE3(this.expression, { LABEL: 'step' });
          });
        },
      },
      {
        ALT: () => {
          this.CONSUME(K.one);
          this.CONSUME(K.of);
          this.SUBRULE(this.nameList);
        },
      },
    ]);
  });

  namedValueItem = this.RULE('namedValueItem', () => {
    this.OR([
      { ALT: () => this.CONSUME(K.state, { LABEL: 'key' }) },
      { ALT: () => this.CONSUME(K.let, { LABEL: 'key' }) },
      { ALT: () => this.CONSUME(K.next, { LABEL: 'key' }) },
    ]);
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expression, { LABEL: 'value' });
  });

  payoffItem = this.RULE('payoffItem', () => {
    this.CONSUME(K.payoff);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expression, { LABEL: 'value' });
  });

  endItem = this.RULE('endItem', () => {
    this.CONSUME(K.end);
    this.CONSUME(H.when);
    this.SUBRULE(this.expression, { LABEL: 'condition' });
  });

  documentedItem = this.RULE('documentedItem', () => {
    this.OR([
      { ALT: () => this.CONSUME(K.benchmark, { LABEL: 'key' }) },
      { ALT: () => this.CONSUME(K.policy, { LABEL: 'key' }) },
      { ALT: () => this.CONSUME(K.metric, { LABEL: 'key' }) },
      { ALT: () => this.CONSUME(K.draw, { LABEL: 'key' }) },
    ]);
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    // `policy shade(f = 0.8) = …`: arguments with defaults (the checker allows them on policies).
    this.OPTION(() => {
      this.CONSUME(T.LParen);
      this.MANY_SEP({
        SEP: T.Comma,
        DEF: () => this.SUBRULE(this.defaultedParameter, { LABEL: 'params' }),
      });
      this.CONSUME(T.RParen);
    });
    // No value: a benchmark the environment's code kind computes (the checker says where).
    this.OPTION3(() => {
      this.CONSUME(T.Equals);
      this.SUBRULE(this.expression, { LABEL: 'value' });
    });
    this.OPTION2(() => this.CONSUME(T.StringLiteral, { LABEL: 'doc' }));
  });

  defaultedParameter = this.RULE('defaultedParameter', () => {
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expression, { LABEL: 'value' });
  });

  // ---- institutions ---------------------------------------------------------------------
  institution = this.RULE('institution', () => {
    this.CONSUME(K.institution);
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.OPTION(() => this.CONSUME(T.StringLiteral, { LABEL: 'title' }));
    this.CONSUME(T.LBrace);
    this.MANY(() => this.SUBRULE(this.institutionItem));
    this.CONSUME(T.RBrace);
  });

  institutionItem = this.RULE('institutionItem', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.param) },
      { ALT: () => this.SUBRULE(this.scopeItem) },
      { ALT: () => this.CONSUME(K.public, { LABEL: 'visibility' }) },
      { ALT: () => this.CONSUME(K.private, { LABEL: 'visibility' }) },
      { ALT: () => this.SUBRULE(this.directiveItem) },
      { ALT: () => this.SUBRULE(this.monitorItem) },
      { ALT: () => this.SUBRULE(this.ruleItem) },
      { ALT: () => this.SUBRULE(this.stateDecl) },
      { ALT: () => this.SUBRULE(this.counterItem) },
      { ALT: () => this.SUBRULE(this.filterItem) },
    ]);
  });

  /** `filter when E ["reason"]`: a message for which E holds is not delivered. */
  filterItem = this.RULE('filterItem', () => {
    this.CONSUME(K.filter);
    this.CONSUME(H.when);
    this.SUBRULE(this.expression, { LABEL: 'condition' });
    this.OPTION(() => this.CONSUME(T.StringLiteral, { LABEL: 'reason' }));
  });

  /** `paraphrase ["MODEL"]`: the agent's messages are rewritten (by the model, when named) before delivery. */
  paraphraseItem = this.RULE('paraphraseItem', () => {
    this.CONSUME(K.paraphrase);
    this.OPTION(() => this.CONSUME(T.StringLiteral, { LABEL: 'model' }));
  });

  /** `counter NAME [= INITIAL] ["doc"]`: a number each machine keeps, changed by effects. */
  counterItem = this.RULE('counterItem', () => {
    this.CONSUME(K.counter);
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.OPTION(() => {
      this.CONSUME(T.Equals);
      this.SUBRULE(this.expression, { LABEL: 'initial' });
    });
    this.OPTION2(() => this.CONSUME(T.StringLiteral, { LABEL: 'doc' }));
  });

  /** `add NAME E`, `reset NAME`, `decay NAME E`: a change to a counter. */
  counterChange = this.RULE('counterChange', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(K.add, { LABEL: 'change' });
          this.CONSUME(T.Identifier, { LABEL: 'counter' });
          this.SUBRULE(this.expression, { LABEL: 'amount' });
        },
      },
      {
        ALT: () => {
          this.CONSUME(K.reset, { LABEL: 'change' });
          this.CONSUME2(T.Identifier, { LABEL: 'counter' });
        },
      },
      {
        ALT: () => {
          this.CONSUME(K.decay, { LABEL: 'change' });
          this.CONSUME3(T.Identifier, { LABEL: 'counter' });
          this.SUBRULE2(this.expression, { LABEL: 'amount' });
        },
      },
    ]);
  });

  scopeItem = this.RULE('scopeItem', () => {
    this.CONSUME(K.scope);
    this.OR([
      {
        ALT: () => {
          this.CONSUME(K.per);
          // `per firm`, or an environment's agent axis (`per fisher`).
          this.CONSUME(T.Identifier, { LABEL: 'scope' });
        },
      },
      { ALT: () => this.CONSUME(K.market, { LABEL: 'scope' }) },
    ]);
  });

  directiveItem = this.RULE('directiveItem', () => {
    this.CONSUME(K.directive);
    this.CONSUME(T.StringLiteral, { LABEL: 'text' });
  });

  monitorItem = this.RULE('monitorItem', () => {
    this.CONSUME(K.monitor);
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expression, { LABEL: 'value' });
    this.MANY(() =>
      this.OR([
        {
          ALT: () => {
            this.CONSUME(K.detection);
            this.SUBRULE2(this.expression, { LABEL: 'detection' });
          },
        },
        {
          ALT: () => {
            this.CONSUME(K.false_positive);
            this.SUBRULE3(this.expression, { LABEL: 'falsePositive' });
          },
        },
      ]),
    );
  });

  ruleItem = this.RULE('ruleItem', () => {
    this.CONSUME(K.rule);
    this.CONSUME(T.Identifier, { LABEL: 'id' });
    this.OPTION(() => this.CONSUME(T.StringLiteral, { LABEL: 'title' }));
    this.CONSUME(T.Colon);
    this.CONSUME2(T.Identifier, { LABEL: 'attribute' });
    this.OR([
      {
        ALT: () => {
          this.CONSUME(K.must);
          this.OPTION2(() => this.CONSUME(H.not));
        },
      },
      { ALT: () => this.CONSUME(K.may) },
    ]);
    this.CONSUME2(T.StringLiteral, { LABEL: 'aim' });
    this.OPTION3(() => {
      this.CONSUME(H.or);
      this.CONSUME(H.else);
      this.CONSUME3(T.StringLiteral, { LABEL: 'orElse' });
    });
  });

  stateDecl = this.RULE('stateDecl', () => {
    this.OPTION(() => this.CONSUME(K.initial));
    this.CONSUME(K.state);
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.OPTION2(() => this.CONSUME(T.StringLiteral, { LABEL: 'title' }));
    this.CONSUME(T.LBrace);
    this.MANY(() => this.SUBRULE(this.stateItem));
    this.CONSUME(T.RBrace);
  });

  stateItem = this.RULE('stateItem', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.whenItem) },
      { ALT: () => this.SUBRULE(this.afterItem) },
      { ALT: () => this.SUBRULE(this.noticeItem) },
      { ALT: () => this.SUBRULE(this.sanctionItem) },
      { ALT: () => this.SUBRULE(this.limitItem) },
      { ALT: () => this.CONSUME(K.suspend, { LABEL: 'suspend' }) },
      { ALT: () => this.CONSUME(K.mute, { LABEL: 'mute' }) },
      { ALT: () => this.CONSUME(K.quarantine, { LABEL: 'quarantine' }) },
      { ALT: () => this.SUBRULE(this.paraphraseItem) },
    ]);
  });

  whenItem = this.RULE('whenItem', () => {
    this.CONSUME(H.when);
    this.SUBRULE(this.expression, { LABEL: 'guard' });
    this.OPTION(() => {
      this.CONSUME(H.for);
      this.SUBRULE2(this.expression, { LABEL: 'forRounds' });
      this.OR([{ ALT: () => this.CONSUME(K.rounds) }, { ALT: () => this.CONSUME(K.round) }]);
    });
    this.CONSUME(T.Arrow);
    this.CONSUME(T.Identifier, { LABEL: 'target' });
    this.MANY(() => this.SUBRULE(this.transitionOption));
  });

  afterItem = this.RULE('afterItem', () => {
    this.CONSUME(K.after);
    this.SUBRULE(this.expression, { LABEL: 'rounds' });
    this.OR([{ ALT: () => this.CONSUME(K.rounds) }, { ALT: () => this.CONSUME(K.round) }]);
    this.OPTION(() => {
      this.CONSUME(K.while);
      this.SUBRULE2(this.expression, { LABEL: 'while' });
    });
    this.CONSUME(T.Arrow);
    this.CONSUME(T.Identifier, { LABEL: 'target' });
    this.MANY(() => this.SUBRULE(this.transitionOption));
  });

  transitionOption = this.RULE('transitionOption', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(K.priority);
          this.SUBRULE(this.expression, { LABEL: 'priority' });
        },
      },
      {
        ALT: () => {
          this.CONSUME(K.rule);
          this.CONSUME(T.Identifier, { LABEL: 'rule' });
        },
      },
      { ALT: () => this.CONSUME(K.restore) },
      {
        ALT: () => {
          this.CONSUME(H.then);
          this.AT_LEAST_ONE_SEP({
            SEP: T.Comma,
            DEF: () => this.SUBRULE(this.counterChange, { LABEL: 'changes' }),
          });
        },
      },
    ]);
  });

  noticeItem = this.RULE('noticeItem', () => {
    this.OPTION(() => {
      this.CONSUME(K.each);
      this.CONSUME(K.round, { LABEL: 'eachRound' });
    });
    this.CONSUME(K.notice);
    this.CONSUME(T.StringLiteral, { LABEL: 'text' });
  });

  sanctionItem = this.RULE('sanctionItem', () => {
    this.OPTION(() => {
      this.CONSUME(K.each);
      this.CONSUME(K.round, { LABEL: 'eachRound' });
      // `each round after entry`: the same timing as `each round`, said explicitly.
      this.OPTION2(() => {
        this.CONSUME(K.after, { LABEL: 'afterEntry' });
        this.CONSUME(K.entry);
      });
    });
    this.OR([
      {
        ALT: () => {
          this.OR2([
            { ALT: () => this.CONSUME(K.fine, { LABEL: 'sanction' }) },
            { ALT: () => this.CONSUME(K.credit, { LABEL: 'sanction' }) },
          ]);
          this.SUBRULE(this.expression, { LABEL: 'amount' });
        },
      },
      { ALT: () => this.SUBRULE(this.counterChange, { LABEL: 'change' }) },
    ]);
  });

  limitItem = this.RULE('limitItem', () => {
    this.OR([
      { ALT: () => this.CONSUME(K.cap, { LABEL: 'limit' }) },
      { ALT: () => this.CONSUME(K.floor, { LABEL: 'limit' }) },
    ]);
    this.SUBRULE(this.expression, { LABEL: 'value' });
  });

  // ---- experiments ----------------------------------------------------------------------
  experiment = this.RULE('experiment', () => {
    this.CONSUME(K.experiment);
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.OPTION(() => this.CONSUME(T.StringLiteral, { LABEL: 'title' }));
    this.CONSUME(T.LBrace);
    this.MANY(() => this.SUBRULE(this.experimentItem));
    this.CONSUME(T.RBrace);
  });

  experimentItem = this.RULE('experimentItem', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.useItem) },
      { ALT: () => this.SUBRULE(this.agentsItem) },
      {
        ALT: () => {
          this.CONSUME(K.rounds, { LABEL: 'roundsKey' });
          this.SUBRULE(this.expression, { LABEL: 'rounds' });
        },
      },
      { ALT: () => this.SUBRULE(this.seedsItem) },
      {
        ALT: () => {
          this.CONSUME(K.horizon, { LABEL: 'horizonKey' });
          this.CONSUME(T.Identifier, { LABEL: 'horizon' });
        },
      },
      {
        ALT: () => {
          this.CONSUME(K.continuation, { LABEL: 'continuationKey' });
          this.SUBRULE2(this.expression, { LABEL: 'continuation' });
        },
      },
      {
        ALT: () => {
          this.CONSUME(K.talk, { LABEL: 'talkKey' });
          this.SUBRULE(this.policy, { LABEL: 'talk' });
        },
      },
      {
        ALT: () => {
          this.CONSUME(K.checkpoint, { LABEL: 'checkpointKey' });
          this.CONSUME(K.every, { LABEL: 'everyKey' });
          this.SUBRULE3(this.expression, { LABEL: 'checkpoint' });
        },
      },
    ]);
  });

  useItem = this.RULE('useItem', () => {
    this.OR([
      { ALT: () => this.CONSUME(K.market, { LABEL: 'role' }) },
      { ALT: () => this.CONSUME(K.institution, { LABEL: 'role' }) },
      { ALT: () => this.CONSUME(K.environment, { LABEL: 'role' }) },
    ]);
    this.CONSUME(T.Identifier, { LABEL: 'target' });
    this.OPTION(() => this.SUBRULE(this.argumentList));
  });

  agentsItem = this.RULE('agentsItem', () => {
    this.CONSUME(K.agents);
    this.OR([
      {
        GATE: () => this.LA(2).tokenType === T.Equals,
        ALT: () =>
          this.AT_LEAST_ONE_SEP({
            SEP: T.Comma,
            DEF: () => {
              this.CONSUME(T.Identifier, { LABEL: 'firm' });
              this.CONSUME(T.Equals);
              this.SUBRULE(this.policy, { LABEL: 'assigned' });
            },
          }),
      },
      { ALT: () => this.SUBRULE2(this.policy, { LABEL: 'all' }) },
    ]);
  });

  policy = this.RULE('policy', () => {
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.OPTION(() => this.SUBRULE(this.argumentList));
  });

  seedsItem = this.RULE('seedsItem', () => {
    this.OR([{ ALT: () => this.CONSUME(K.seed) }, { ALT: () => this.CONSUME(K.seeds) }]);
    this.SUBRULE(this.additive, { LABEL: 'from' });
    this.OPTION(() => {
      this.CONSUME(T.DotDot);
      this.SUBRULE2(this.additive, { LABEL: 'to' });
    });
  });

  // ---- interventions (docs/checkpoints.md) ------------------------------------------------
  intervention = this.RULE('intervention', () => {
    this.CONSUME(K.intervention);
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.OPTION(() => this.CONSUME(T.StringLiteral, { LABEL: 'title' }));
    this.CONSUME(T.LBrace);
    this.MANY(() => this.SUBRULE(this.interventionItem));
    this.CONSUME(T.RBrace);
  });

  interventionItem = this.RULE('interventionItem', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.agentsItem) },
      { ALT: () => this.SUBRULE(this.useItem) },
      {
        ALT: () => {
          this.CONSUME(K.drop, { LABEL: 'dropKey' });
          this.CONSUME(K.message, { LABEL: 'messageKey' });
          this.CONSUME(T.StringLiteral, { LABEL: 'dropped' });
        },
      },
      {
        ALT: () => {
          this.CONSUME(K.replace, { LABEL: 'replaceKey' });
          this.CONSUME3(K.message, { LABEL: 'messageKey' });
          this.CONSUME3(T.StringLiteral, { LABEL: 'replaced' });
          this.CONSUME4(T.StringLiteral, { LABEL: 'replacement' });
        },
      },
      {
        ALT: () => {
          this.CONSUME(K.inject, { LABEL: 'injectKey' });
          this.CONSUME2(K.message, { LABEL: 'messageKey' });
          this.CONSUME(T.Identifier, { LABEL: 'from' });
          this.CONSUME(T.Arrow);
          this.OR2([
            { ALT: () => this.CONSUME(T.Star, { LABEL: 'everyone' }) },
            { ALT: () => this.SUBRULE(this.nameList, { LABEL: 'to' }) },
          ]);
          this.CONSUME2(T.StringLiteral, { LABEL: 'text' });
        },
      },
      {
        ALT: () => {
          this.CONSUME(K.mute, { LABEL: 'muteKey' });
          this.CONSUME2(T.Identifier, { LABEL: 'edgeFrom' });
          this.OR3([
            { ALT: () => this.CONSUME2(T.Arrow, { LABEL: 'oneWay' }) },
            { ALT: () => this.CONSUME(T.Minus, { LABEL: 'bothWays' }) },
          ]);
          this.CONSUME3(T.Identifier, { LABEL: 'edgeTo' });
        },
      },
      {
        ALT: () => {
          this.CONSUME(K.reset, { LABEL: 'resetKey' });
          this.CONSUME(K.memory, { LABEL: 'memoryKey' });
          this.SUBRULE2(this.nameList, { LABEL: 'reset' });
        },
      },
      {
        ALT: () => {
          this.CONSUME(K.benchmark, { LABEL: 'benchmarkKey' });
          this.CONSUME(K.action, { LABEL: 'actionKey' });
          this.CONSUME4(T.Identifier, { LABEL: 'agent' });
          this.CONSUME(K.round, { LABEL: 'roundKey' });
          this.SUBRULE(this.expression, { LABEL: 'round' });
        },
      },
      {
        ALT: () => {
          this.CONSUME(K.pardon, { LABEL: 'pardonKey' });
          this.CONSUME5(T.Identifier, { LABEL: 'agent' });
          this.CONSUME2(K.round, { LABEL: 'roundKey' });
          this.SUBRULE2(this.expression, { LABEL: 'round' });
        },
      },
      {
        ALT: () => {
          this.CONSUME(K.param, { LABEL: 'paramKey' });
          this.CONSUME6(T.Identifier, { LABEL: 'paramName' });
          this.CONSUME(T.Equals);
          this.SUBRULE3(this.expression, { LABEL: 'paramValue' });
        },
      },
    ]);
  });

  // ---- sweeps ---------------------------------------------------------------------------
  sweep = this.RULE('sweep', () => {
    this.CONSUME(K.sweep);
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.OPTION(() => this.CONSUME(T.StringLiteral, { LABEL: 'title' }));
    this.CONSUME(T.LBrace);
    this.MANY(() => this.SUBRULE(this.sweepItem));
    this.CONSUME(T.RBrace);
  });

  sweepItem = this.RULE('sweepItem', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(K.base, { LABEL: 'baseKey' });
          this.CONSUME(T.Identifier, { LABEL: 'base' });
        },
      },
      { ALT: () => this.SUBRULE(this.factorItem) },
      {
        ALT: () => {
          this.CONSUME(K.design, { LABEL: 'designKey' });
          this.SUBRULE(this.policy, { LABEL: 'design' });
        },
      },
      {
        ALT: () => {
          this.CONSUME(K.replicates, { LABEL: 'replicatesKey' });
          this.SUBRULE(this.expression, { LABEL: 'replicates' });
        },
      },
      {
        ALT: () => {
          this.CONSUME(K.seed, { LABEL: 'seedKey' });
          this.SUBRULE2(this.expression, { LABEL: 'seed' });
        },
      },
      { ALT: () => this.SUBRULE(this.budgetItem) },
    ]);
  });

  // `factor [NAME:] TARGET[.MEMBER] = LEVEL | LEVEL …` or `… in [LOW, HIGH]`.
  factorItem = this.RULE('factorItem', () => {
    this.CONSUME(K.factor);
    this.OPTION({
      GATE: () => this.LA(2).tokenType === T.Colon,
      DEF: () => {
        this.CONSUME(T.Identifier, { LABEL: 'name' });
        this.CONSUME(T.Colon);
      },
    });
    this.CONSUME2(T.Identifier, { LABEL: 'target' });
    this.OPTION2(() => {
      this.CONSUME(T.Dot);
      this.CONSUME3(T.Identifier, { LABEL: 'member' });
    });
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Equals);
          this.AT_LEAST_ONE_SEP({
            SEP: T.Pipe,
            DEF: () => this.SUBRULE(this.expression, { LABEL: 'levels' }),
          });
        },
      },
      {
        ALT: () => {
          this.CONSUME(H.in);
          this.CONSUME(T.LBracket);
          this.SUBRULE2(this.expression, { LABEL: 'low' });
          this.CONSUME(T.Comma);
          this.SUBRULE3(this.expression, { LABEL: 'high' });
          this.CONSUME(T.RBracket);
        },
      },
    ]);
  });

  budgetItem = this.RULE('budgetItem', () => {
    this.CONSUME(K.budget);
    this.AT_LEAST_ONE(() =>
      this.OR([
        {
          ALT: () => {
            this.CONSUME(K.tokens, { LABEL: 'limit' });
            this.SUBRULE(this.expression, { LABEL: 'amount' });
          },
        },
        {
          ALT: () => {
            this.CONSUME(K.cost, { LABEL: 'limit' });
            this.SUBRULE2(this.expression, { LABEL: 'amount' });
          },
        },
      ]),
    );
  });

  // ---- expressions ----------------------------------------------------------------------
  expression = this.RULE('expression', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.conditional) },
      { ALT: () => this.SUBRULE(this.disjunction) },
    ]);
  });

  conditional = this.RULE('conditional', () => {
    this.CONSUME(H.if);
    this.SUBRULE(this.expression, { LABEL: 'condition' });
    this.CONSUME(H.then);
    this.SUBRULE2(this.expression, { LABEL: 'then' });
    this.CONSUME(H.else);
    this.SUBRULE3(this.expression, { LABEL: 'otherwise' });
  });

  disjunction = this.RULE('disjunction', () => {
    this.SUBRULE(this.conjunction, { LABEL: 'operands' });
    this.MANY(() => {
      this.CONSUME(H.or, { LABEL: 'operators' });
      this.SUBRULE2(this.conjunction, { LABEL: 'operands' });
    });
  });

  conjunction = this.RULE('conjunction', () => {
    this.SUBRULE(this.negation, { LABEL: 'operands' });
    this.MANY(() => {
      this.CONSUME(H.and, { LABEL: 'operators' });
      this.SUBRULE2(this.negation, { LABEL: 'operands' });
    });
  });

  negation = this.RULE('negation', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(H.not, { LABEL: 'not' });
          this.SUBRULE(this.negation, { LABEL: 'operand' });
        },
      },
      { ALT: () => this.SUBRULE(this.comparison, { LABEL: 'operand' }) },
    ]);
  });

  comparison = this.RULE('comparison', () => {
    this.SUBRULE(this.additive, { LABEL: 'operands' });
    this.OPTION(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.LessEq, { LABEL: 'operators' }) },
        { ALT: () => this.CONSUME(T.GreaterEq, { LABEL: 'operators' }) },
        { ALT: () => this.CONSUME(T.EqEq, { LABEL: 'operators' }) },
        { ALT: () => this.CONSUME(T.NotEq, { LABEL: 'operators' }) },
        { ALT: () => this.CONSUME(T.Less, { LABEL: 'operators' }) },
        { ALT: () => this.CONSUME(T.Greater, { LABEL: 'operators' }) },
      ]);
      this.SUBRULE2(this.additive, { LABEL: 'operands' });
    });
  });

  additive = this.RULE('additive', () => {
    this.SUBRULE(this.multiplicative, { LABEL: 'operands' });
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.Plus, { LABEL: 'operators' }) },
        { ALT: () => this.CONSUME(T.Minus, { LABEL: 'operators' }) },
      ]);
      this.SUBRULE2(this.multiplicative, { LABEL: 'operands' });
    });
  });

  multiplicative = this.RULE('multiplicative', () => {
    this.SUBRULE(this.unary, { LABEL: 'operands' });
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.Star, { LABEL: 'operators' }) },
        { ALT: () => this.CONSUME(T.Slash, { LABEL: 'operators' }) },
        { ALT: () => this.CONSUME(T.Percent, { LABEL: 'operators' }) },
      ]);
      this.SUBRULE2(this.unary, { LABEL: 'operands' });
    });
  });

  unary = this.RULE('unary', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Minus, { LABEL: 'minus' });
          this.SUBRULE(this.unary, { LABEL: 'operand' });
        },
      },
      { ALT: () => this.SUBRULE(this.power, { LABEL: 'operand' }) },
    ]);
  });

  power = this.RULE('power', () => {
    this.SUBRULE(this.postfix, { LABEL: 'base' });
    this.OPTION(() => {
      this.CONSUME(T.Caret);
      this.SUBRULE(this.unary, { LABEL: 'exponent' });
    });
  });

  postfix = this.RULE('postfix', () => {
    this.SUBRULE(this.primary);
    this.MANY(() =>
      this.OR([
        { ALT: () => this.SUBRULE(this.indexSuffix, { LABEL: 'suffix' }) },
        { ALT: () => this.SUBRULE(this.memberSuffix, { LABEL: 'suffix' }) },
      ]),
    );
  });

  indexSuffix = this.RULE('indexSuffix', () => {
    this.CONSUME(T.LBracket);
    this.AT_LEAST_ONE_SEP({
      SEP: T.Comma,
      DEF: () => this.SUBRULE(this.expression, { LABEL: 'indices' }),
    });
    this.CONSUME(T.RBracket);
  });

  memberSuffix = this.RULE('memberSuffix', () => {
    this.CONSUME(T.Dot);
    this.CONSUME(T.Identifier, { LABEL: 'property' });
  });

  primary = this.RULE('primary', () => {
    this.OR([
      { ALT: () => this.CONSUME(T.NumberLiteral, { LABEL: 'number' }) },
      { ALT: () => this.CONSUME(T.StringLiteral, { LABEL: 'string' }) },
      { ALT: () => this.CONSUME(H.true, { LABEL: 'bool' }) },
      { ALT: () => this.CONSUME(H.false, { LABEL: 'bool' }) },
      { ALT: () => this.CONSUME(H.inf, { LABEL: 'inf' }) },
      {
        ALT: () => {
          this.CONSUME(T.Identifier, { LABEL: 'name' });
          this.OPTION(() => this.SUBRULE(this.argumentList));
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.LParen);
          this.SUBRULE(this.expression, { LABEL: 'inner' });
          this.CONSUME(T.RParen);
        },
      },
      { ALT: () => this.SUBRULE(this.listLiteral) },
    ]);
  });

  listLiteral = this.RULE('listLiteral', () => {
    this.CONSUME(T.LBracket);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.expression, { LABEL: 'items' }) });
    this.CONSUME(T.RBracket);
  });

  argumentList = this.RULE('argumentList', () => {
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.argument, { LABEL: 'args' }) });
    this.CONSUME(T.RParen);
  });

  argument = this.RULE('argument', () => {
    this.OPTION({
      GATE: () => this.LA(2).tokenType === T.Colon,
      DEF: () => {
        this.CONSUME(T.Identifier, { LABEL: 'name' });
        this.CONSUME(T.Colon);
      },
    });
    this.SUBRULE(this.expression, { LABEL: 'value' });
  });
}

export const parserInstance = new MaseParser();
export type { CstNode };
export { EofToken };
