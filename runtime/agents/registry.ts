import type { Agent } from './agent.js';
import { LLM_ARGUMENTS, llm } from './llm.js';
import {
  type AgentContext,
  PolicyError,
  type PolicyFactory,
  type PolicyReference,
} from './policy.js';
import { qlearning } from './qlearning.js';
import {
  bestResponsePolicy,
  collusive,
  competitive,
  constant,
  cued,
  evader,
  nash,
  noisyNash,
  random,
  trigger,
} from './scripted.js';

export type { AgentContext, PolicyArgument, PolicyFactory, PolicyReference } from './policy.js';
export { PolicyError } from './policy.js';

/** A policy the runtime knows: how to build it and a one-line usage for errors and help. */
export interface PolicyEntry {
  readonly name: string;
  /** The argument names it accepts, in positional order (test/runtime/agents/policy-arguments.test.ts holds `create` to them). */
  readonly arguments: readonly string[];
  readonly usage: string;
  readonly summary: string;
  readonly create: PolicyFactory;
}

export const POLICIES: readonly PolicyEntry[] = [
  { name: 'nash', arguments: [], usage: 'nash', summary: 'plays its Nash action', create: nash },
  {
    name: 'collusive',
    arguments: [],
    usage: 'collusive',
    summary: 'plays its part of the joint-profit optimum',
    create: collusive,
  },
  {
    name: 'competitive',
    arguments: [],
    usage: 'competitive',
    summary: 'plays its part of the competitive outcome',
    create: competitive,
  },
  {
    name: 'constant',
    arguments: ['q'],
    usage: 'constant(q)',
    summary: 'plays q (a number, or a list per product) every round',
    create: constant,
  },
  {
    name: 'random',
    arguments: [],
    usage: 'random',
    summary: 'plays uniformly at random within its bounds and capacity',
    create: random,
  },
  {
    name: 'noisy_nash',
    arguments: ['noise'],
    usage: 'noisy_nash(noise: 0.1)',
    summary: 'plays its Nash action times (1 + noise · u), u uniform on [−1, 1] per product',
    create: noisyNash,
  },
  {
    name: 'best_response',
    arguments: [],
    usage: 'best_response',
    summary: "best-responds to the rivals' last actions (Nash in round 1)",
    create: bestResponsePolicy,
  },
  {
    name: 'trigger',
    arguments: ['k', 'tolerance'],
    usage: 'trigger(k: 5, tolerance: 0.01)',
    summary: 'colludes; after a rival deviates plays Nash for k rounds',
    create: trigger,
  },
  {
    name: 'evader',
    arguments: ['steps'],
    usage: 'evader(steps: 20)',
    summary: "colludes as far as the public institution's thresholds allow",
    create: evader,
  },
  {
    name: 'cued',
    arguments: ['word', 'say'],
    usage: 'cued(word: "collude", say: 0)',
    summary:
      'plays Nash until a message it receives holds word, then collusive; in round say (0: never) sends word to its neighbours',
    create: cued,
  },
  {
    name: 'qlearning',
    arguments: ['alpha', 'beta', 'delta', 'm', 'xi', 'memory'],
    usage: 'qlearning(alpha: 0.15, beta: 5e-4, delta: 0.95, m: 15, xi: 0.1, memory: 1)',
    summary: 'tabular Q-learning on a grid spanning the Nash and collusive actions',
    create: qlearning,
  },
  {
    name: 'llm',
    arguments: LLM_ARGUMENTS,
    usage:
      'llm(model: "openai:gpt-4o-mini", temperature: 0.7, memory: 5, reasks: 2, fallback: "previous")',
    summary: 'asks a language model each round (see docs/llm.md)',
    create: llm,
  },
];

const byName = new Map(POLICIES.map((p) => [p.name, p]));

/** The names `createAgent` resolves, in the order of `POLICIES`. */
export function knownPolicies(): string[] {
  return POLICIES.map((p) => p.name);
}

/**
 * Builds the agent for a policy reference (`IrPolicy` from an experiment's `agents`
 * item). An unknown name or a bad argument is a PolicyError naming the policy and, for a
 * bad argument, the argument.
 */
export function createAgent(policy: PolicyReference, context: AgentContext): Agent {
  const entry = byName.get(policy.name);
  if (!entry) {
    throw new PolicyError(
      `unknown policy \`${policy.name}\`; known policies: ${knownPolicies().join(', ')}`,
    );
  }
  const { firm, market } = context;
  if (!Number.isInteger(firm) || firm < 0 || firm >= market.dims.firms) {
    throw new PolicyError(
      `${policy.name}: firm index ${firm} is not a firm of market ${market.name} (${market.dims.firms} firms)`,
    );
  }
  return entry.create(policy.args, context);
}
