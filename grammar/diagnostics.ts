import type { Range } from './ast.js';

/**
 * Every diagnostic MASE can report, with its one-line meaning. The union is closed:
 * a code is added here, documented in docs/language.md and tested, or not at all.
 */
export const diagnosticCodes = {
  E_LEX: 'a character that cannot start any token',
  E_BAD_CHAR:
    'a control or bidirectional-override character in the source, or bytes that are not UTF-8',
  E_SYNTAX: 'the parser expected something else here',
  E_NUMBER: 'a number literal that is not a finite number',
  E_VERSION: 'a language version this compiler does not know',
  E_RESERVED_NAME:
    'a name that is refused because it would reach JavaScript internals (`__proto__`, `constructor`, …)',
  E_IMPORT:
    'an import that cannot be followed: a missing or unreadable file, a cycle, a path that is not a `.mase` file or `stdlib:NAME`',
  E_DUPLICATE: 'the same name is declared twice in one scope (or in two files of one program)',
  E_UNKNOWN_NAME: 'a name that is not declared anywhere in scope',
  E_UNKNOWN_OBSERVABLE: 'an observable or benchmark that the market does not provide',
  E_TYPE: 'a value of the wrong kind (number, bool, string, list)',
  E_SHAPE: 'per-firm, per-product or firm × product values that do not fit together',
  E_ARITY: 'a function called with the wrong number or names of arguments',
  E_SCOPE: 'a name used where it has no meaning (e.g. `self` in a market-scoped institution)',
  E_MISSING: 'a required item of a declaration is absent',
  E_NO_INITIAL: 'an institution with states but no initial state',
  E_MULTIPLE_INITIAL: 'more than one initial state',
  E_UNKNOWN_STATE: 'a transition or history function names a state that does not exist',
  E_UNKNOWN_RULE: 'a transition cites a rule id that is not declared',
  E_UNKNOWN_PARAM: 'a parameter override names no declared parameter',
  E_PARAM_TYPE: 'a parameter override or default of the wrong type or length',
  E_VALUE: 'a value outside its allowed range (e.g. a probability above 1, a negative round count)',
  W_UNREACHABLE_STATE: 'a state no transition can reach from the initial state',
  W_NO_RESTORATION: 'a sanction state from which no path leads back to the initial state',
  W_ABSORBING_STATE: 'a punishment state with no way out at all',
  W_SANCTION_WITHOUT_EVIDENCE: 'a sanction state that no monitor-driven transition leads to',
  W_AMBIGUOUS_GUARDS:
    'two transitions of one state can hold at once and neither declares a priority',
  W_EACH_ROUND_SKIPS_ENTRY:
    'an `each round` fine or credit in a state with no entry fine or credit of its own: the round of entry is free',
  W_UNUSED: 'a monitor, rule or parameter that nothing uses',
  E_INTERNAL: 'a bug in MASE itself, not in the source',
} as const;

export type DiagnosticCode = keyof typeof diagnosticCodes;
export type Severity = 'error' | 'warning';

export interface Diagnostic {
  readonly code: DiagnosticCode;
  readonly severity: Severity;
  readonly message: string;
  readonly path: string;
  readonly range: Range;
  readonly hint?: string;
}

export function severityOf(code: DiagnosticCode): Severity {
  return code.startsWith('W_') ? 'warning' : 'error';
}

export function diagnostic(
  code: DiagnosticCode,
  path: string,
  range: Range,
  message: string,
  hint?: string,
): Diagnostic {
  return {
    code,
    severity: severityOf(code),
    message,
    path,
    range,
    ...(hint === undefined ? {} : { hint }),
  };
}

/** E_NUMBER's words, for a source's number literal and a `--param` value alike. */
export const numberTooLarge = {
  message: (image: string) => `the number ${image} is too large to represent`,
  hint: 'write `inf` for an unbounded value, or use a smaller number',
};

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}

/** What every phase returns: a value (possibly partial) and what went wrong on the way. */
export interface PhaseResult<T> {
  readonly value: T;
  readonly diagnostics: readonly Diagnostic[];
}
