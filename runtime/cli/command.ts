import type { Command } from 'commander';

/** Where a command's handler puts its exit code when it ends without throwing (0 unless set). */
export type SetExitCode = (code: number) => void;

/**
 * One `mase` command, in its own file under commands/: it adds itself (its arguments, flags,
 * help line and handler) to the program. A handler that fails for the user throws a
 * MaseUserError (runtime/errors.ts); main() prints it and exits with its code.
 */
export type MaseCommand = (program: Command, setExitCode: SetExitCode) => void;
