import type { IrPolicy } from '../../compiler/index.js';
import type { RunRequest } from '../../runtime/index.js';

/**
 * The runtime benchmarks' workload: `cournot` with every firm `nash` and costs 10 + i/N
 * for firm i = 0…N−1 (so Nash quantities differ across firms and governance monitors see
 * real dispersion). The request and the policy parser `resolveExperiment` takes.
 */
export function cournotWorkload(
  firms: number,
  institution: string,
  rounds: number,
): { request: RunRequest; policies: () => { all: IrPolicy; perFirm: Record<string, IrPolicy> } } {
  return {
    request: {
      market: 'cournot',
      institution,
      agents: 'nash',
      params: [
        { name: 'firms', value: firms },
        { name: 'costs', value: Array.from({ length: firms }, (_, i) => 10 + i / firms) },
      ],
      rounds,
      seed: 1,
    },
    policies: () => ({ all: { name: 'nash', args: [] }, perFirm: {} }),
  };
}
