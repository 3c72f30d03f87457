import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SourceText } from '../../compiler/index.js';

/**
 * The institution of issue 11: the stdlib `governance_graph` whose `credited` state
 * escalates on evidence (`when evidence -> warning rule P1`, listed before its way back to
 * `active`, so that it wins when both hold). With `notice`, `credited` also sends a notice
 * on entry. Built from the stdlib text, so it is the stdlib graph with exactly that change.
 */
export const ESCALATING_CREDIT = 'escalating_credit';

const stdlibGraph = join(
  dirname(fileURLToPath(import.meta.url)),
  '../../stdlib/governance-graph.mase',
);
const CREDITED = '  state credited "Credited" {\n    credit credit_amount\n';

export function escalatingCredit(options: { notice?: boolean } = {}): SourceText {
  const stdlib = readFileSync(stdlibGraph, 'utf8');
  if (!stdlib.includes(CREDITED) || !stdlib.includes('institution governance_graph ')) {
    throw new Error(
      'stdlib/governance-graph.mase changed: update test/support/escalating-credit.ts',
    );
  }
  const notice = options.notice
    ? '    notice "Your record is clean again: a credit is paid."\n'
    : '';
  const text = stdlib
    .replace('institution governance_graph ', `institution ${ESCALATING_CREDIT} `)
    .replace(CREDITED, `${CREDITED}${notice}    when evidence -> warning rule P1\n`);
  return { path: 'escalating-credit.mase', text };
}
