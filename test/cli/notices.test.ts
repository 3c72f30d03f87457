import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliPath, runCli } from '../support/cli.js';

/**
 * Live notices through the built CLI: `{…}` in a notice is a value read when the notice is
 * given (after the transition, as sanction amounts are), written into the trace's notice
 * and so into what an LLM firm is told. Once, the braces were shown as written.
 */

let dir = '';
const mase = (command: string | readonly string[]) =>
  runCli(command, { cwd: dir, env: { MASE_HOME: join(dir, 'home'), MASE_LOG_KEY: undefined } });

const LIVE = `mase 1

institution owe "Fines with live notices" {
  scope per firm
  param rate = 0.5 "share of profit fined"
  monitor high = any(quantity[self] > 30, over: product)
  initial state ok "Fine" {
    when high -> fined
  }
  state fined "Fined" {
    notice "You are fined {rate * profit[self]} this round ({{rate}} = {rate}); over 30: {high}."
    fine rate * profit[self]
    when not high -> ok
  }
}

experiment live {
  market cournot
  institution owe
  agents nash
  rounds 3
}
`;

beforeAll(() => {
  expect(existsSync(cliPath), `${cliPath} is missing: run \`npm run build\` (npm test does)`).toBe(
    true,
  );
  dir = mkdtempSync(join(tmpdir(), 'mase-notices-'));
  writeFileSync(join(dir, 'live.mase'), LIVE);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('live notices', () => {
  it('write the values of the round into the notice each firm is given', () => {
    const run = mase(['run', 'live.mase', '--agents', 'f1=constant(40),f2=nash', '--out', 'r']);
    expect(run.code, run.stderr).toBe(0);
    const events = readFileSync(join(dir, 'r/events.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const notices = events.filter((e) => e.type === 'notice');
    expect(notices.map((n) => [n.round, n.firm])).toEqual([[1, 'f1']]);
    // The fine of the same round is 0.5 × f1's profit; the notice shows it to 2 decimals.
    const market = events.find((e) => e.type === 'market' && e.round === 1);
    const fine = events.find((e) => e.type === 'sanction' && e.round === 1);
    expect(fine.amount).toBeCloseTo(0.5 * market.profit[0], 9);
    const shown = String(Math.round(fine.amount * 100) / 100);
    expect(notices[0].text).toBe(`You are fined ${shown} this round ({rate} = 0.5); over 30: yes.`);
  });

  it('a notice with braces but no value shows each doubled brace once', () => {
    writeFileSync(
      join(dir, 'plain.mase'),
      LIVE.replace(/notice "[^"]*"/, 'notice "Keep output in {{20, 30}}; the rate is {{rate}}."'),
    );
    const run = mase(['run', 'plain.mase', '--agents', 'f1=constant(40),f2=nash', '--out', 'p']);
    expect(run.code, run.stderr).toBe(0);
    const notices = readFileSync(join(dir, 'p/events.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((e) => e.type === 'notice');
    expect(notices.map((n) => n.text)).toEqual(['Keep output in {20, 30}; the rate is {rate}.']);
  });

  it('a value that names nothing is a diagnostic where it stands in the string', () => {
    writeFileSync(
      join(dir, 'bad.mase'),
      LIVE.replace('{rate * profit[self]}', '{rate * proft[self]}'),
    );
    const check = mase('check bad.mase');
    expect(check.code).toBe(1);
    expect(check.stderr).toContain('bad.mase:11:35: error E_UNKNOWN_OBSERVABLE');
  });
});
