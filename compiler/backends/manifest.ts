import { constantValue } from '../constant.js';
import { paramValues } from '../instantiate.js';
import type { IrInstitution, IrRule, IrTransition, ParamValue, StateKind } from '../ir.js';
import { natives } from '../natives.js';
import { observableMeanings } from '../observables.js';
import { readsListsAtRunTime } from '../param-values.js';
import { stateSummary } from './dot.js';
import {
  changeLabel,
  formatNumber,
  formatParamValue,
  renderExpr,
  wrapWords,
} from './render-expr.js';

/**
 * Backend 3: the public manifest — the text governed agents are shown. It is generated
 * from the same IR as the machine and the diagram, with parameter values written in, so
 * what agents read is what the machine does. Rules are rendered in institutional-grammar
 * form: who, must / must not / may, what, under which condition, or else what.
 */

/** A state's kind as agents read it beside its name (`every firm` becomes `every fisher`). */
const STATE_TAGS: Record<StateKind, string> = {
  initial: ' [initial: every firm starts here]',
  normal: '',
  warning: ' [warning]',
  sanction: ' [sanction]',
  credit: ' [restorative]',
};

const deonticText: Record<IrRule['deontic'], string> = {
  must: 'must',
  'must not': 'must not',
  may: 'may',
};

function whoText(attribute: string): string {
  return attribute === 'firm' || attribute === 'firms' ? 'Each firm' : `Each ${attribute}`;
}

function conditionText(t: IrTransition, params: ReadonlyMap<string, ParamValue>): string {
  const rounds = constantValue(t.rounds, params) ?? 1;
  const n = formatNumber(rounds);
  const condition = t.condition ? `\`${renderExpr(t.condition, params)}\`` : undefined;
  if (t.kind === 'when') {
    const guard = condition ?? 'always';
    return rounds === 1 ? `when ${guard} holds` : `when ${guard} holds for ${n} consecutive rounds`;
  }
  return condition
    ? `after ${n} consecutive round${rounds === 1 ? '' : 's'} in \`${t.source}\` in which ${condition} holds`
    : `after ${n} round${rounds === 1 ? '' : 's'} in \`${t.source}\``;
}

function wrap(text: string, indent: string, width = 88): string {
  return wrapWords(text, width - indent.length)
    .map((l) => indent + l)
    .join('\n');
}

export function manifestText(
  institution: IrInstitution,
  overrides?: ReadonlyMap<string, ParamValue>,
): string {
  const params = paramValues(institution.params, overrides);
  const out: string[] = [];
  const push = (...lines: string[]) => out.push(...lines);
  // What the governed agents are called: firms in a market, the environment's axis otherwise.
  const who = institution.agentAxis ?? 'firm';
  push(`INSTITUTION ${institution.name}: ${institution.title}`);
  push(
    institution.public
      ? `This manifest is public: every ${who} reads the same text, and it does not change during the run.`
      : `This institution is not public: ${who}s are not shown this text.`,
  );
  if (institution.directive) {
    push('', 'DIRECTIVE', wrap(institution.directive, '  '));
  }
  const filters = filterLines(institution, params, who);
  if (institution.states.length === 0) {
    push(...filters);
    if (filters.length > 0) push('', wrap(MESSAGE_LOG, ''));
    else if (!institution.directive)
      push('', 'There are no rules, no monitoring and no sanctions.');
    else push('', 'Nothing is monitored and no sanction is attached to this directive.');
    return `${out.join('\n')}\n`;
  }
  push(
    '',
    institution.scope === 'firm'
      ? `SCOPE: each ${who} has its own standing and record; \`self\` below means that ${who}.`
      : 'SCOPE: the market as a whole has one standing; sanctions apply to every firm.',
  );

  if (institution.monitors.length > 0) {
    push(
      '',
      `EVIDENCE (computed after every round from ${institution.agentAxis ? "the round's outcomes" : 'market outcomes'})`,
    );
    for (const m of institution.monitors) {
      const noise: string[] = [];
      if (m.detection)
        noise.push(
          `detected with probability ${formatNumber(constantValue(m.detection, params) ?? Number.NaN)}`,
        );
      if (m.falsePositive)
        noise.push(
          `false alarm rate ${formatNumber(constantValue(m.falsePositive, params) ?? Number.NaN)}`,
        );
      push(
        `  ${m.name} = ${renderExpr(m.expr, params)}${noise.length ? ` (imperfect: ${noise.join(', ')})` : ''}`,
      );
    }
    const texts = institution.monitors.map((m) => m.expr.text);
    const mentions = (pattern: RegExp) => texts.some((t) => pattern.test(t));
    const where: string[] = [];
    for (const [name, meaning] of Object.entries(observableMeanings)) {
      if (mentions(new RegExp(`\\b${name}\\b`))) where.push(`    ${name}: ${meaning}`);
    }
    for (const fn of natives.values()) {
      if (mentions(new RegExp(`\\b${fn.name}\\(`)))
        where.push(`    ${fn.signature}: ${fn.summary}`);
    }
    const benchmarks: [RegExp, string][] = [
      [/\bnash\./, 'nash.*: the static Nash equilibrium of this market, computed before round 1'],
      [
        /\bcompetitive\./,
        'competitive.*: the competitive outcome of this market (price equal to marginal cost)',
      ],
      [/\bcollusive\./, 'collusive.*: the joint-profit (collusive) optimum of this market'],
    ];
    for (const [pattern, meaning] of benchmarks)
      if (mentions(pattern)) where.push(`    ${meaning}`);
    if (where.length > 0) push('  where:', ...where);
  }

  const counters = institution.counters ?? [];
  if (counters.length > 0) {
    push(
      '',
      institution.scope === 'firm'
        ? `COUNTERS (each ${who} has its own; changed only as the states and transitions below say)`
        : 'COUNTERS (one for the market; changed only as the states and transitions below say)',
    );
    for (const c of counters)
      push(
        wrap(
          `${c.name}, starting at ${renderExpr(c.initial, params)}${c.doc ? ` — ${c.doc}` : ''}`,
          '  ',
        ),
      );
    push(
      wrap(
        '`add C E` adds E to C; `reset C` sets it back to its starting value; `decay C E` takes the share E off it. A change is made after the round is judged and before any fine, credit or notice of that round is worked out.',
        '  ',
      ),
    );
  }

  push(...filters);

  const transitions = institution.states.flatMap((s) => s.transitions);
  if (institution.rules.length > 0) {
    push('', 'RULES');
    for (const rule of institution.rules) {
      const citing = transitions.filter((t) => t.rule === rule.id);
      push(`  ${rule.id}${rule.title ? ` ${rule.title}` : ''}`);
      push(wrap(`${whoText(rule.attribute)} ${deonticText[rule.deontic]} ${rule.aim}.`, '    '));
      for (const t of citing) {
        const where = t.kind === 'when' ? ` while in \`${t.source}\`` : '';
        push(wrap(`Condition: ${conditionText(t, params)}${where}.`, '    '));
        push(
          wrap(
            `Consequence: moves to \`${t.target}\`${rule.orElse ? ` (${rule.orElse})` : ''}.`,
            '    ',
          ),
        );
      }
      if (citing.length === 0 && rule.orElse) push(wrap(`Or else: ${rule.orElse}.`, '    '));
    }
  }

  push('', 'STATES');
  for (const s of institution.states) {
    const tag = STATE_TAGS[s.kind].replace('every firm', `every ${who}`);
    push(`  ${s.name}${s.title ? ` — ${s.title}` : ''}${tag}`);
    for (const line of stateSummary(s, params)) {
      if (line.startsWith('notice: ') || line.startsWith('each round notice: ')) continue;
      push(`    ${line}`);
    }
    const eachRound = new Set(s.eachRoundNotices ?? []);
    s.notices.forEach((n, i) => {
      push(wrap(`notice ${eachRound.has(i) ? 'each round' : 'on entry'}: "${n}"`, '    '));
    });
    for (const t of s.transitions) {
      const rule = t.rule ? ` [rule ${t.rule}]` : '';
      const restore = t.restorative ? ' (restoration)' : '';
      const priority = t.declaredPriority ? ` (priority ${t.priority})` : '';
      const changes = t.changes
        ? `, then ${t.changes.map((c) => changeLabel(c, params)).join(', ')}`
        : '';
      push(
        wrap(
          `-> ${t.target} ${conditionText(t, params)}${rule}${priority}${restore}${changes}`,
          '    ',
        ),
      );
    }
    if (s.transitions.length === 0) push('    (no way out)');
  }

  if (institution.params.length > 0) {
    push('', 'PARAMETERS (already written into the text above)');
    for (const p of institution.params) {
      const value = params.get(p.name) ?? p.value;
      push(`  ${p.name} = ${formatParamValue(value)}${p.doc ? ` — ${p.doc}` : ''}`);
    }
  }
  if (readsListsAtRunTime(institution, params))
    push(
      '',
      wrap(
        'LISTS: `[a, b, c][k]` is the k-th value of the list, counted from 1. A position past the end reads the last value, one below 1 the first, and a fraction is rounded down.',
        '',
      ),
    );
  push(
    '',
    wrap(
      `HOW IT WORKS: after each round the evidence is computed and the transitions of your current state are checked, higher priority first, then in the order listed; at most one is taken. The sanctions of a state apply while you are in it. Every transition, sanction and notice${counters.length > 0 ? ' and every change of a counter' : ''} is written to an append-only governance log.`,
      '',
    ),
  );
  if (actsOnMessages(institution))
    push(
      '',
      wrap(
        `MESSAGES: while you are in a state marked muted, no message you send is delivered; while you are in one marked quarantined, no message you send is delivered and no message is delivered to you. A message to several ${who}s still reaches those not in quarantine. ${MESSAGE_LOG}${institution.states.some((s) => s.paraphrase) ? ` ${PARAPHRASE_NOTE}` : ''}${institution.states.some((s) => s.paraphraser !== undefined) ? ` ${MODEL_PARAPHRASE_NOTE}` : ''}`,
        '',
      ),
    );
  return `${out.join('\n')}\n`;
}

const MESSAGE_LOG =
  'Every message not delivered is recorded, with its text, in the trace and the governance log.';

const PARAPHRASE_NOTE =
  'While you are in a state marked paraphrased, each message you send is rewritten before it is delivered: every word of it that is in the synonym table is replaced by one of its synonyms chosen at random. Each rewritten message is recorded, with both texts, in the trace and the governance log.';

const MODEL_PARAPHRASE_NOTE =
  'In a state marked paraphrased by a model, that language model rewrites each message instead.';

/** Whether a state of the institution mutes, quarantines or paraphrases, or it filters messages. */
function actsOnMessages(institution: IrInstitution): boolean {
  return (
    (institution.filters?.length ?? 0) > 0 ||
    institution.states.some((s) => s.mute || s.quarantine || s.paraphrase)
  );
}

/** The MESSAGE FILTERS section (empty without filters), with the text measures explained. */
function filterLines(
  institution: IrInstitution,
  params: ReadonlyMap<string, ParamValue>,
  who: string,
): string[] {
  const filters = institution.filters ?? [];
  if (filters.length === 0) return [];
  const lines = [
    '',
    'MESSAGE FILTERS',
    wrap(
      `Each message is checked on its own before it is delivered: the measures below read that one message as its sender's talk (a value per ${who} is read for the sender). A message for which a condition holds is delivered to no one.`,
      '  ',
    ),
  ];
  for (const f of filters) {
    const condition = renderExpr(f.condition, params);
    lines.push(
      wrap(
        `not delivered when ${condition}${f.reason === f.condition.text ? '' : ` — ${f.reason}`}`,
        '  ',
      ),
    );
  }
  const used = [...natives.values()].filter(
    (fn) =>
      fn.readsTalk && filters.some((f) => new RegExp(`\\b${fn.name}\\(`).test(f.condition.text)),
  );
  if (used.length > 0)
    lines.push('  where:', ...used.map((fn) => wrap(`${fn.signature}: ${fn.summary}`, '    ')));
  return lines;
}
