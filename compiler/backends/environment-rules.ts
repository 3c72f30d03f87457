import { paramValues } from '../instantiate.js';
import type { IrEnvironment, ParamValue } from '../ir.js';
import { renderExpr } from './render-expr.js';

/**
 * The rules of an environment as its agents (and LLM agents' prompts) are told them,
 * generated from its declaration: who acts, what they choose, how a round works, what
 * they are paid and what they see. The same text for every agent; nothing is invented.
 */
export function environmentRules(
  env: IrEnvironment,
  agents: readonly string[],
  overrides?: ReadonlyMap<string, ParamValue> | Readonly<Record<string, ParamValue>>,
): string {
  const params = paramValues(env.params, overrides);
  const show = (e: Parameters<typeof renderExpr>[0]) => renderExpr(e, params, env.axis);
  const action = env.action.options
    ? `one of ${env.action.options.map((o, i) => `${o} (${i})`).join(', ')}`
    : `a number in [${show(env.action.low)}, ${show(env.action.high)}]${env.action.step ? ` in steps of ${show(env.action.step)}` : ''}`;
  const lines = [
    `${env.title} (${env.name})`,
    '',
    `There are ${agents.length} ${env.axis}s: ${agents.join(', ')}. Each round every ${env.axis} chooses \`${env.action.variable}\`: ${action}.`,
  ];
  if (env.params.length > 0) {
    lines.push('', 'Parameters:');
    for (const p of env.params) {
      const value = params.get(p.name);
      lines.push(`- ${p.name} = ${JSON.stringify(value)}${p.doc ? `: ${p.doc}` : ''}`);
    }
  }
  if (env.states.length > 0) {
    lines.push('', 'State (carried from round to round):');
    for (const s of env.states)
      lines.push(
        `- ${s.name} starts at ${show(s.initial)}${s.next ? `; next round it is ${show(s.next)}` : ''}`,
      );
  }
  lines.push('', 'Each round:');
  // A draw is told to the agents only when `observe` shows it (runtime/environment/llm.ts).
  const observed = new Set(env.observe.map((o) => o.name));
  for (const d of env.draws)
    lines.push(
      `- before anyone acts, each ${env.axis}'s own ${d.name} is drawn afresh, uniformly from [${show(d.low)}, ${show(d.high)}]; ${observed.has(d.name) ? `each ${env.axis} is told its own` : `no ${env.axis} is told it`}${d.doc ? ` (${d.doc})` : ''}`,
    );
  for (const c of env.code?.computed ?? [])
    lines.push(
      `- ${c.type.axes.length > 0 ? `each ${env.axis}'s ` : ''}${c.name} is computed by the environment's code from the round (the actions${env.states.length > 0 ? ', the state' : ''} and what was said)${c.doc ? `: ${c.doc}` : ''}`,
    );
  for (const l of env.lets) lines.push(`- ${l.name} = ${show(l.value)}`);
  lines.push(`- each ${env.axis}'s payoff = ${show(env.payoff)}`);
  if (env.end) lines.push(`- the game ends after a round in which ${show(env.end)}`);
  lines.push(
    '',
    `Each ${env.axis} sees after each round: ${env.observe.map((o) => (o.own ? `its own ${o.name}` : o.name)).join(', ')}.`,
  );
  return `${lines.join('\n')}\n`;
}
