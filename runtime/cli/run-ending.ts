import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT, MaseUserError } from '../errors.js';

/**
 * What `mase run`, `mase replay` and `mase demo` end with on an error: the error as the user
 * should meet it. A model that refuses every request (a bad key, an unknown model) fails the
 * run: exit 1, saying where the rounds before are kept. Files the run could not write are the
 * machine's failure: exit 4. Anything else is returned as it is, to be thrown: a
 * MaseUserError carries its own exit code (a model file that is not there, an output
 * directory in use, a run that cannot be replayed, a response cache that cannot be opened);
 * any other error is a bug.
 */
export async function runFailure(
  error: unknown,
  what: 'run' | 'replay' | 'demo',
  where?: string,
): Promise<unknown> {
  const [{ LlmFatalError }, { RunWriteError }] = await Promise.all([
    import('../agents/llm.js'),
    import('../run/artifacts.js'),
  ]);
  if (error instanceof RunWriteError)
    return new MaseUserError(
      `the ${what} could not be written: ${error.message}`,
      EXIT.environment,
    );
  if (error instanceof LlmFatalError)
    return new MaseUserError(
      `the ${what} failed: ${error.message}${where ? `\n(${where}; the rounds before are kept)` : ''}`,
      EXIT.sourceErrors,
    );
  return error;
}

/** How a run ended, for the `wrote DIR (status: …)` line: why and when, unless it completed. */
export function statusLine(artifacts: {
  status: string;
  result: { reason?: string; roundsCompleted: number };
}): string {
  const { status, result } = artifacts;
  if (status === 'completed') return status;
  // A degraded run's reason has a line of its own.
  const reason = status !== 'degraded' && result.reason ? `: ${result.reason}` : '';
  return `${status}${reason}, ${result.roundsCompleted} rounds`;
}

/** Why a run is degraded, as its manifest says. */
export function degradedReason(dir: string): string {
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
    reason?: string;
  };
  return `${manifest.reason ?? 'too many fallback decisions'} (metrics.json counts them: fallbacks)`;
}

/** A one-line progress bar on stderr, only when it is a terminal. */
export function progressHooks(total: number): { onRoundEnd?: (round: number) => void } {
  if (!process.stderr.isTTY) return {};
  let last = -1;
  return {
    onRoundEnd: (round) => {
      const percent = Math.floor((100 * round) / total);
      if (percent === last && round !== total) return;
      last = percent;
      const width = 30;
      const filled = Math.round((width * round) / total);
      process.stderr.write(
        `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${round}/${total} rounds`,
      );
      if (round >= total) process.stderr.write('\n');
    },
  };
}
