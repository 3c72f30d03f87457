import { MaseUserError } from '../errors.js';

/**
 * The sweep commands' user-facing problems: each is a message and an exit code (1: the
 * sources have errors, 2: a request that cannot work), never a stack trace.
 */
export class SweepProblem extends MaseUserError {
  constructor(
    message: string,
    override readonly exitCode: 1 | 2 = 2,
  ) {
    super(message, exitCode);
    this.name = new.target.name;
  }
}
