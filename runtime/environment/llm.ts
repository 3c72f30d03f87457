import { environmentRules } from '../../compiler/backends/environment-rules.js';
import type { Tensor } from '../../compiler/tensor.js';
import type { Agent } from '../agents/agent.js';
import { LlmAgent, type LlmAgentContext, type LlmWorld, llmAgentConfig } from '../agents/llm.js';
import type { AgentContext, PolicyArgument } from '../agents/policy.js';
import {
  DEFAULT_TEMPLATES,
  type Memory,
  type Placeholder,
  type PromptTemplates,
  promptNumber,
  remembered,
  sharedPromptValues,
  type TalkPrompt,
} from '../llm/prompts.js';
import {
  type EnvironmentInstance,
  type EnvironmentOutcome,
  environmentFallback,
} from './instance.js';
import type { EnvironmentObservation } from './policies.js';

/**
 * LLM agents in an environment written in the language. They are told the environment's
 * rules as generated from its declaration (compiler/backends/environment-rules.ts: who
 * acts, the action and its bounds, the parameters, the state, each round's quantities and
 * the payoff, the end condition, what is seen), the institution's manifest when it is
 * public, and each past round as the environment's `observe` items show it. They answer
 * with one number (or one option by name), checked against the bounds and the grid; an
 * unusable answer is re-asked and then falls back, as in markets (runtime/agents/llm.ts).
 */

/** The default templates of environments: the market's, with the environment's words. */
export const ENVIRONMENT_TEMPLATES: PromptTemplates = {
  system: `You are {{firm}}, one of {{n_firms}} {{axis}}s in a game that is played again every round. The others are {{rivals}}. Each round you choose your {{action}}; your goal is your own total payoff over all rounds.

Rules:
{{rules}}
{{institution}}
Answer with one JSON object and nothing else: {{answer_format}}`,
  // The round and talk prompts say nothing market-specific but who reads messages.
  round: DEFAULT_TEMPLATES.round,
  talk: DEFAULT_TEMPLATES.talk.replace('Other firms read them', 'The others read them'),
};

const number = (x: number) => (Number.isFinite(x) ? promptNumber(x) : String(x));

/** One past round as an agent sees it: the environment's `observe` items, in order. */
export function environmentRoundView(
  env: EnvironmentInstance,
  agent: number,
  round: number,
  outcome: EnvironmentOutcome,
): string {
  const parts: string[] = [];
  const shown = (t: Tensor, i: number) => number(t.data[t.axes.length === 0 ? 0 : i] ?? Number.NaN);
  for (const { name, own } of env.ir.observe) {
    const t = outcome.values.get(name);
    if (!t) continue;
    if (t.axes.length === 0) parts.push(`${name} ${shown(t, 0)}`);
    else if (own) parts.push(`your ${name} ${shown(t, agent)}`);
    else parts.push(`${name} ${env.agents.map((a, i) => `${a} ${shown(t, i)}`).join(', ')}`);
  }
  return `round ${round}: ${parts.join('; ')}`;
}

/** The values an environment agent's prompt is filled with this round. */
export function environmentPromptValues(
  observation: EnvironmentObservation,
  scratchpads: { plans: string; insights: string },
  memory: Memory,
  answerFormat: string,
  talk?: TalkPrompt,
  rules = environmentRules(observation.environment.ir, observation.environment.agents),
): Record<Placeholder, string> {
  const { environment: env, firm: agent } = observation;
  const { shown, first } = remembered(observation.history, memory);
  // Each draw is the agent's own, made before it acts: it is told its value this round
  // when the environment shows that draw (`observe own value`); a draw it does not show
  // (commons' rationing `order`) stays unknown to the agent, as an unseen queue would.
  const drawn = env.draws(observation.round);
  const shownDraws = new Set(env.ir.observe.map((o) => o.name));
  const draws = env.ir.draws
    .filter((d) => shownDraws.has(d.name))
    .map(
      (d) => `Your ${d.name} this round: ${number(drawn.get(d.name)?.data[agent] ?? Number.NaN)}`,
    );
  return {
    firm: env.agents[agent] ?? `${env.axis} ${agent}`,
    n_firms: String(env.agents.length),
    rivals: env.agents.filter((_, i) => i !== agent).join(', ') || 'none',
    products: '',
    action: env.ir.action.variable,
    axis: env.axis,
    rules,
    market_rules: rules,
    ...sharedPromptValues(
      observation,
      { name: 'game', others: 'others', extraStatus: draws },
      scratchpads,
      memory,
      shown.map((h, k) => environmentRoundView(env, agent, first + k, h.outcome)),
      answerFormat,
      talk,
    ),
  };
}

/**
 * An environment as an LLM agent sees it. Unusable answers fall back to the previous
 * action, and in round 1 to the environment's first benchmark (its lower bound when it
 * declares none) — the fallback the round loop uses too.
 */
export function environmentWorld(
  env: EnvironmentInstance,
  agent: number,
): LlmWorld<EnvironmentObservation> {
  const fallback = environmentFallback(env);
  const rules = environmentRules(env.ir, env.agents, env.params);
  const step = env.step?.[agent];
  return {
    agent: env.agents[agent] as string,
    key: env.ir.action.variable,
    answer: env.options ? { kind: 'option', options: env.options } : { kind: 'number' },
    low: [env.low[agent] ?? 0],
    high: [env.high[agent] ?? 0],
    ...(step !== undefined && !env.options ? { step } : {}),
    fallbackName: fallback.name,
    fallback: () => fallback.action(agent),
    templates: ENVIRONMENT_TEMPLATES,
    values: (observation, scratchpads, memory, answerFormat, talk) =>
      environmentPromptValues(observation, scratchpads, memory, answerFormat, talk, rules),
  };
}

/** `llm(model: …, memory: …, fallback: previous | BENCHMARK, …)` in an environment. */
export function environmentLlm(
  args: readonly PolicyArgument[],
  env: EnvironmentInstance,
  agent: number,
  context: LlmAgentContext & { readonly llm?: AgentContext['llm'] },
): Agent<EnvironmentObservation, unknown> {
  const world = environmentWorld(env, agent);
  const { config, endpoint } = llmAgentConfig(args, context.llm, world.fallbackName);
  return new LlmAgent(config, endpoint, context, world);
}
