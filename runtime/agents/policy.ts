import { EXIT, MaseUserError } from '../errors.js';
import type { PromptTemplates } from '../llm/prompts.js';
import type { LlmServices } from '../llm/services.js';
import type { MarketInstance } from '../market/instance.js';
import type { TraceEvent } from '../trace/events.js';
import type { Agent, Random } from './agent.js';

/** A policy argument as the IR records it (`IrPolicy` in compiler/ir.ts): positional or named. */
export interface PolicyArgument {
  readonly name?: string;
  readonly value: number | boolean | string | readonly unknown[];
}

/** A policy reference: a name and its literal arguments. */
export interface PolicyReference {
  readonly name: string;
  readonly args: readonly PolicyArgument[];
}

/** What every agent is built with: whose agent it is, the market, and its own random stream. */
export interface AgentContext {
  readonly firm: number;
  readonly market: MarketInstance;
  readonly random: Random;
  /** Records an event in the run's trace (LLM agents record their calls). */
  readonly emit?: (event: TraceEvent) => void;
  /** The run's model services and LLM defaults, for `llm` policies. */
  readonly llm?: LlmContext;
}

/** What `llm` policies share in a run: the endpoints, and defaults from the command line. */
export interface LlmContext {
  readonly services: LlmServices;
  /** The model of `llm` policies that name none (`--model`). */
  readonly defaultModel?: string;
  readonly templates?: PromptTemplates;
  /** The run's seed (a model's `seed` setting defaults to it). */
  readonly seed: number;
  /** The seed in force now, when it changes during the run (a fork continued under another seed). */
  readonly seedNow?: () => number;
}

export type PolicyFactory = (args: readonly PolicyArgument[], context: AgentContext) => Agent;

/** A policy that cannot be built: an unknown name or a bad argument. The message is for the user. */
export class PolicyError extends MaseUserError {
  override name = 'PolicyError';
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/** Limits on a numeric argument; the error message spells them out. */
export interface NumberRange {
  /** Exclusive lower bound. */
  readonly above?: number;
  readonly atLeast?: number;
  readonly atMost?: number;
  /** Exclusive upper bound. */
  readonly below?: number;
  readonly integer?: boolean;
  /** `inf` is accepted (a trigger's grim punishment); otherwise numbers must be finite. */
  readonly infinite?: boolean;
}

function describeRange(range: NumberRange): string {
  const parts: string[] = [];
  if (range.above !== undefined) parts.push(`> ${range.above}`);
  if (range.atLeast !== undefined) parts.push(`≥ ${range.atLeast}`);
  if (range.below !== undefined) parts.push(`< ${range.below}`);
  if (range.atMost !== undefined) parts.push(`≤ ${range.atMost}`);
  const kind = range.integer ? 'a whole number' : 'a number';
  const limits = parts.length > 0 ? ` ${parts.join(' and ')}` : '';
  return `${kind}${limits}${range.infinite ? ' (or inf)' : ''}`;
}

function inRange(value: number, range: NumberRange): boolean {
  if (Number.isNaN(value)) return false;
  if (!Number.isFinite(value)) return range.infinite === true && value > 0;
  if (range.integer && !Number.isInteger(value)) return false;
  if (range.above !== undefined && !(value > range.above)) return false;
  if (range.atLeast !== undefined && !(value >= range.atLeast)) return false;
  if (range.below !== undefined && !(value < range.below)) return false;
  if (range.atMost !== undefined && !(value <= range.atMost)) return false;
  return true;
}

function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(shown).join(', ')}]`;
  return String(value);
}

/**
 * A policy's arguments, matched to its declared parameter names: positional arguments
 * fill the names in order, named ones go where they say. Unknown names, surplus
 * positional arguments and an argument given twice are errors here, so each policy only
 * reads values and checks their ranges.
 */
export class PolicyArguments {
  private constructor(
    private readonly policy: string,
    private readonly values: ReadonlyMap<string, PolicyArgument['value']>,
  ) {}

  static read(
    policy: string,
    args: readonly PolicyArgument[],
    names: readonly string[],
  ): PolicyArguments {
    const values = new Map<string, PolicyArgument['value']>();
    const accepted =
      names.length > 0
        ? `it accepts ${names.map((n) => `\`${n}\``).join(', ')}`
        : 'it takes no arguments';
    let position = 0;
    for (const arg of args) {
      let name: string;
      if (arg.name === undefined) {
        const next = names[position++];
        if (next === undefined) {
          throw new PolicyError(
            `${policy}: too many arguments (${args.filter((a) => a.name === undefined).length} positional); ${accepted}`,
          );
        }
        name = next;
      } else {
        if (!names.includes(arg.name)) {
          throw new PolicyError(`${policy}: unknown argument \`${arg.name}\`; ${accepted}`);
        }
        name = arg.name;
      }
      if (values.has(name)) throw new PolicyError(`${policy}: argument \`${name}\` given twice`);
      values.set(name, arg.value);
    }
    return new PolicyArguments(policy, values);
  }

  /** A string; `fallback` when absent (undefined: the argument is required). */
  string(name: string, fallback: string | undefined, allowed?: readonly string[]): string {
    const value = this.values.get(name);
    if (value === undefined) {
      if (fallback === undefined)
        throw new PolicyError(`${this.policy}: missing argument \`${name}\` (a string)`);
      return fallback;
    }
    if (typeof value !== 'string' || (allowed && !allowed.includes(value))) {
      throw new PolicyError(
        `${this.policy}: argument \`${name}\` must be ${
          allowed ? allowed.map((a) => JSON.stringify(a)).join(' or ') : 'a string'
        }; got ${shown(value)}`,
      );
    }
    return value;
  }

  /** The value as given, or undefined. */
  raw(name: string): PolicyArgument['value'] | undefined {
    return this.values.get(name);
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  /** A number; `fallback` when absent (undefined: the argument is required). */
  number(name: string, fallback: number | undefined, range: NumberRange = {}): number {
    const value = this.values.get(name);
    if (value === undefined) {
      if (fallback === undefined) {
        throw new PolicyError(
          `${this.policy}: missing argument \`${name}\` (${describeRange(range)})`,
        );
      }
      return fallback;
    }
    if (typeof value !== 'number' || !inRange(value, range)) {
      throw new PolicyError(
        `${this.policy}: argument \`${name}\` must be ${describeRange(range)}; got ${shown(value)}`,
      );
    }
    return value;
  }

  /**
   * One number per product: a single number (the same for every product) or a list of
   * `length` numbers. `undefined` when absent and not required.
   */
  perProduct(
    name: string,
    length: number,
    required: boolean,
    range: NumberRange = {},
  ): Float64Array | undefined {
    const value = this.values.get(name);
    const expected = `${describeRange(range)}, or a list of ${length} such numbers (one per product)`;
    if (value === undefined) {
      if (required)
        throw new PolicyError(`${this.policy}: missing argument \`${name}\` (${expected})`);
      return undefined;
    }
    const list = Array.isArray(value) ? (value as readonly unknown[]) : [value];
    const ok =
      (list.length === 1 || list.length === length) &&
      list.every((v) => typeof v === 'number' && inRange(v, range));
    if (!ok) {
      throw new PolicyError(
        `${this.policy}: argument \`${name}\` must be ${expected}; got ${shown(value)}`,
      );
    }
    const numbers = list as readonly number[];
    return Float64Array.from({ length }, (_, j) => numbers[list.length === 1 ? 0 : j] ?? 0);
  }
}
