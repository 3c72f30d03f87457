import type { RunMetrics } from '../metrics.js';
import type { RunResult } from './run.js';

/**
 * A run that played to its end but whose decisions were largely fallbacks — answers that
 * were unusable or never came (a closed port, a model that answers nonsense) — is not the
 * data its experiment asked for: it ends `degraded`, not `completed`. The line is a share
 * of all decisions (`metrics.fallbacks.share`), 10% unless `--max-fallback-share` says
 * otherwise; a run at the line is still `completed`.
 */

export const DEFAULT_MAX_FALLBACK_SHARE = 0.1;

/** A run's final status, as the manifest records it. */
export type FinalStatus = RunResult['status'] | 'degraded';

const percent = (share: number) => `${Number((share * 100).toFixed(1))}%`;

/** The status and reason a finished run is recorded with. */
export function runOutcome(
  result: Pick<RunResult, 'status' | 'reason'>,
  metrics: Pick<RunMetrics, 'fallbacks'>,
  maxFallbackShare: number = DEFAULT_MAX_FALLBACK_SHARE,
): { status: FinalStatus; reason?: string } {
  const { total, decisions, share } = metrics.fallbacks;
  if (result.status === 'completed' && share !== null && share > maxFallbackShare)
    return {
      status: 'degraded',
      reason: `${percent(share)} of the decisions (${total} of ${decisions}) were fallbacks after an unusable or missing answer, more than the ${percent(maxFallbackShare)} allowed (--max-fallback-share)`,
    };
  return { status: result.status, ...(result.reason ? { reason: result.reason } : {}) };
}
