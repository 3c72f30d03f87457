/**
 * The sweep commands' user-facing problems: each is a message and an exit code (1: the
 * sources have errors, 2: a request that cannot work), never a stack trace.
 */
export class SweepProblem extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 2,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export function sweepErrorMessage(
  error: unknown,
): { message: string; exitCode: number } | undefined {
  if (error instanceof SweepProblem) return { message: error.message, exitCode: error.exitCode };
  return undefined;
}
