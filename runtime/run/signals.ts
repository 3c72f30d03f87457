/**
 * SIGINT and SIGTERM during a run: the first asks the run to stop after the round it is
 * playing (it then writes the trace's end, metrics for the rounds played, and the manifest
 * as `interrupted`); a second stops at once, after the callbacks given to `onHardStop`
 * (which record what they can synchronously).
 */

export type StopSignal = 'SIGINT' | 'SIGTERM';

const SIGNAL_NUMBER: Readonly<Record<StopSignal, number>> = { SIGINT: 2, SIGTERM: 15 };

/** The shell's exit code for a process ended by `signal`: 128 + its number. */
export function signalExitCode(signal: StopSignal): number {
  return 128 + SIGNAL_NUMBER[signal];
}

export class Interruption {
  private signal: StopSignal | undefined;
  private readonly hardStops: ((signal: StopSignal) => void)[] = [];
  private readonly handler = (signal: StopSignal) => this.receive(signal);

  constructor(
    private readonly write: (text: string) => void = (t) => process.stderr.write(t),
    private readonly exit: (code: number) => never = (code) => process.exit(code),
  ) {
    process.on('SIGINT', this.handler);
    process.on('SIGTERM', this.handler);
  }

  /** The signal received, if any. */
  get received(): StopSignal | undefined {
    return this.signal;
  }

  /** The run's stop reason once a signal came (for `RunHooks.shouldStop`). */
  stopReason(): string | undefined {
    return this.signal ? `stopped by ${this.signal}` : undefined;
  }

  /** Called, synchronously, when a second signal stops the process at once. */
  onHardStop(callback: (signal: StopSignal) => void): void {
    this.hardStops.push(callback);
  }

  dispose(): void {
    process.off('SIGINT', this.handler);
    process.off('SIGTERM', this.handler);
  }

  private receive(signal: StopSignal): void {
    if (this.signal === undefined) {
      this.signal = signal;
      this.write(
        `\nmase: ${signal}: finishing this round, then writing the trace's end, the metrics and the manifest (send it again to stop at once)\n`,
      );
      return;
    }
    this.write(`\nmase: ${signal} again: stopping at once\n`);
    for (const callback of this.hardStops) {
      try {
        callback(signal);
      } catch {
        // stopping at once: what cannot be recorded now is not
      }
    }
    this.exit(signalExitCode(signal));
  }
}
