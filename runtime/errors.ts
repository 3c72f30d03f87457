/**
 * Exit codes of `mase`: 0 ok, 1 errors in the sources (or a run that did not complete), 2 bad
 * usage, 3 a bug in MASE (E_INTERNAL only), 4 the machine failed (a full disk, EIO, a
 * read-only or missing path); a run stopped by a signal exits 128 + the signal's number (130
 * for SIGINT).
 */
export const EXIT = { ok: 0, sourceErrors: 1, usage: 2, internal: 3, environment: 4 } as const;

/** The exit codes an error for the user may carry: never 0, never 3 (that one is a bug). */
export type UserExitCode = typeof EXIT.sourceErrors | typeof EXIT.usage | typeof EXIT.environment;

/**
 * A failure that is not a bug in MASE: its message is one line (or a rendered block) for the
 * user, and its exit code says what failed. The CLI prints `mase: MESSAGE` and exits with
 * `exitCode`; every layer throws this type (or a subclass) for what the user can fix — a bad
 * flag, a file that is not a source, a directory in use, a failed check — and the CLI needs
 * no list of error classes. Errors of any other type are bugs (exit 3), except the machine's
 * own errors (runtime/system-errors.ts, exit 4).
 */
export class MaseUserError extends Error {
  constructor(
    message: string,
    readonly exitCode: UserExitCode,
  ) {
    super(message);
  }
}

/** A flag or argument that cannot work: exit 2. */
export class UsageProblem extends MaseUserError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}
