import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  answer,
  firmOf,
  roundOf,
  type ScriptedServer,
  startScriptedServer,
} from '../../bench/support/openai-server.js';
import { runToDirectory } from '../../runtime/index.js';
import { randomStream } from '../../runtime/random.js';
import { experimentFromRun } from '../../runtime/run/replay.js';
import { resumeRun } from '../../runtime/run/resume.js';
import { cliSandbox, cournotRun, type SandboxRun } from '../support/cli.js';

/**
 * `mase run --checkpoint-every K` and `mase run --resume --out DIR`, as a user meets them: a
 * run killed (SIGKILL) at a random point of its trace, or stopped by SIGINT, is resumed and
 * ends with the files an uninterrupted run writes: events.jsonl, metrics.json and
 * sanctions.csv byte for byte, and the governance log entry for entry (each run's log is
 * MACed under a key bound to its own nonce, so only the MACs differ; each verifies).
 */

const sandbox = cliSandbox('resume');
const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
/** Q-learning firms under an institution that fines and changes state: the governance log's chain. */
const GOVERNED = 'stdlib:governance_graph';
const { file, read, mase } = sandbox;

/** The kill points: fractions of the uninterrupted trace between FROM and TO, from a fixed seed. */
const random = randomStream(15, 'kill points');
const draws = (n: number, from: number, to: number): number[] =>
  Array.from({ length: n }, () => Math.round(1000 * (from + (to - from) * random.next())) / 1000);

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** The governance log's entries without what binds them to one run's key (MACs). */
const logEntries = (dir: string) =>
  read(`${dir}/governance-log.jsonl`)
    .trimEnd()
    .split('\n')
    .map((line) => {
      const { mac: _mac, prev_mac: _prev, ...entry } = JSON.parse(line) as Record<string, unknown>;
      return entry;
    });

/**
 * Runs `mase ARGS --out OUT` and sends SIGNAL once WATCHED (OUT/events.jsonl) holds at least
 * BYTES bytes.
 */
async function stoppedAt(
  args: readonly string[],
  out: string,
  bytes: number,
  signal: NodeJS.Signals = 'SIGKILL',
  run: SandboxRun = {},
  watched = `${out}/events.jsonl`,
) {
  let child: ChildProcess | undefined;
  let sent = false;
  const watch = setInterval(() => {
    try {
      if (!sent && statSync(file(watched)).size >= bytes) {
        sent = true;
        child?.kill(signal);
      }
    } catch {
      // not written yet
    }
  }, 1);
  const result = await sandbox.maseAsync([...args, '--out', out], run, (c) => {
    child = c;
  });
  clearInterval(watch);
  expect(sent, `the run ended before its trace reached ${bytes} bytes`).toBe(true);
  return result;
}

/** Resumes OUT and checks that it ends as REFERENCE did. */
function expectResumedLike(out: string, reference: string, run?: SandboxRun) {
  const resumed = mase(['run', '--resume', '--out', out], run);
  expect(resumed.stderr).toContain('status: completed');
  expect(resumed.code, resumed.stderr).toBe(0);
  for (const name of ['events.jsonl', 'metrics.json'])
    expect(sha(file(`${out}/${name}`)), name).toBe(sha(file(`${reference}/${name}`)));
  expect(logEntries(out)).toEqual(logEntries(reference));
  const verified = mase(['verify', out], run);
  expect(verified.code, verified.stdout + verified.stderr).toBe(0);
  // A finished run has nothing left to resume from.
  expect(existsSync(file(`${out}/checkpoint.json`))).toBe(false);
  const manifest = sandbox.json<{ resumed: { round: number }[]; status: string }>(
    `${out}/manifest.json`,
  );
  expect(manifest.status).toBe('completed');
  return manifest.resumed;
}

describe('a scripted run killed at random points and resumed', () => {
  // Q-learning firms (their Q-tables and random streams are the state to rebuild) under an
  // institution that fines and changes state (the governance log's chain).
  const market = cournotRun('qlearning', 8000, GOVERNED, '--seed', '3', '--checkpoint-every', '40');
  beforeAll(() => {
    const r = mase([...market, '--out', 'market-whole']);
    expect(r.code, r.stderr).toBe(0);
    expect(logEntries('market-whole').length).toBeGreaterThan(100);
  });

  it.each(draws(3, 0.02, 0.95).map((at, i) => [i, at]))(
    'kill %i at %f of the trace → resume ends byte-identical',
    async (i, at) => {
      const out = `market-killed-${i}`;
      const size = statSync(file('market-whole/events.jsonl')).size;
      const killed = await stoppedAt(market, out, Math.floor(at * size));
      expect(killed.code).toBe(null);
      expect(sandbox.json<{ status: string }>(`${out}/manifest.json`).status).toBe('running');
      const checkpoint = sandbox.json<{ round: number; state?: unknown }>(`${out}/checkpoint.json`);
      // Every part of this run saves its state: the run goes on from it, it does not play
      // rounds 1..R again.
      expect(checkpoint.state).toMatchObject({ encoding: 'v8' });
      const resumed = expectResumedLike(out, 'market-whole');
      expect(resumed).toEqual([{ round: checkpoint.round, at: expect.any(String), from: 'state' }]);
      expect(checkpoint.round % 40).toBe(0);
      expect(mase(['show', out]).stdout).toContain(
        `from its checkpoint after round ${checkpoint.round} (its saved state)`,
      );
    },
  );

  it('a run killed before its first checkpoint is run again from round 1', async () => {
    const out = 'market-killed-early';
    await stoppedAt(market, out, 1);
    expect(existsSync(file(`${out}/checkpoint.json`))).toBe(false);
    expect(expectResumedLike(out, 'market-whole')).toEqual([
      { round: 0, at: expect.any(String), from: 'replay' },
    ]);
  });

  it('a run stopped by SIGINT (sealed `interrupted`) is resumed to the end', async () => {
    const out = 'market-interrupted';
    const size = statSync(file('market-whole/events.jsonl')).size;
    const stopped = await stoppedAt(market, out, Math.floor(size / 2), 'SIGINT');
    expect(stopped.stderr).toContain('interrupted');
    expect(sandbox.json<{ status: string }>(`${out}/manifest.json`).status).toBe('interrupted');
    expectResumedLike(out, 'market-whole');
  });
});

describe('scripted firms that remember, talk and are paraphrased, killed and resumed from their saved state', () => {
  // Each agent kind that holds something between rounds (a trigger's punishment, a cued
  // firm's cue, an evader's level), the talk's message ids, and the scripted paraphrase's
  // random stream: what each firm reads of "good" depends on the draws made before the
  // checkpoint, so a stream set back wrong changes who colludes after it.
  /** Four Cournot firms under INSTITUTION, with these agents and further flags. */
  const fourFirms = (institution: string, agents: string, ...more: string[]) => [
    'run',
    '--market',
    'stdlib:cournot',
    '--param',
    'firms=4',
    '--institution',
    institution,
    '--agents',
    agents,
    ...more,
  ];
  const runs: Record<string, string[]> = {
    remembering: fourFirms(
      GOVERNED,
      'f1=trigger(k: 3),f2=noisy_nash(0.3),f3=evader,f4=best_response',
      '--rounds',
      '400',
      '--checkpoint-every',
      '7',
    ),
    paraphrased: fourFirms(
      'stdlib:paraphrase_all',
      'f1=cued(word: "good", say: 30),f2=cued(word: "good", say: 70),f3=cued(word: "good", say: 110),f4=cued(word: "good", say: 150)',
      '--talk',
      'complete(visible: true)',
      '--rounds',
      '2000',
      '--checkpoint-every',
      '20',
    ),
  };
  it.each([
    ['remembering', 0.3],
    ['remembering', 0.8],
    ['paraphrased', 50],
    ['paraphrased', 120],
  ] as const)('%s, killed at %f → resumed from its state, byte-identical', async (name, at) => {
    const args = runs[name] as string[];
    const whole = `${name}-whole`;
    if (!existsSync(file(`${whole}/metrics.json`))) {
      const r = mase([...args, '--out', whole]);
      expect(r.code, r.stderr).toBe(0);
    }
    const text = read(`${whole}/events.jsonl`);
    // A fraction of the trace, or the start of a round.
    const bytes =
      at < 1
        ? Math.floor(at * text.length)
        : Buffer.byteLength(text.slice(0, text.indexOf(`"round":${at},`)));
    if (name === 'paraphrased')
      // The paraphrases differ: the stream's draws matter.
      expect(new Set(text.match(/"paraphrase":"[a-z]+"/g)).size).toBeGreaterThan(1);
    const out = `${name}-killed-${at}`;
    await stoppedAt(args, out, bytes);
    const checkpoint = sandbox.json<{ round: number; state?: unknown }>(`${out}/checkpoint.json`);
    expect(checkpoint.state).toBeDefined();
    expect(expectResumedLike(out, whole)).toEqual([
      { round: checkpoint.round, at: expect.any(String), from: 'state' },
    ]);
  });
});

describe('each kind of environment killed and resumed from its saved state', () => {
  // State variables, draws made again from the seed, declared and generic policies (a
  // trigger's punishment, a Q-learning table), each code kind's state and its agents', and
  // the institutions over them.
  const example = (path: string) => join(root, 'examples', path);
  const runs: Record<string, string[]> = {
    auction: [
      '--environment',
      'stdlib:auction',
      '--institution',
      'stdlib:bid_audit',
      '--agents',
      'bidder1=shade(0.7),bidder2=qlearning,bidder3=random',
      '--rounds',
      '600',
      '--checkpoint-every',
      '13',
    ],
    commons: [
      '--environment',
      'stdlib:commons',
      '--param',
      'random_order=true',
      '--institution',
      'stdlib:harvest_quota',
      '--agents',
      'fisher1=conditional,fisher2=trigger(k: 2),fisher3=conditional,fisher4=sustainable,fisher5=stray(round: 150, x: 30)',
      '--rounds',
      '300',
      '--checkpoint-every',
      '11',
    ],
    minimum_effort: [
      '--environment',
      'stdlib:minimum_effort',
      '--agents',
      // The trigger punishes from round 101 to 250: the checkpoint halfway falls inside.
      'player1=stray(round: 100, x: 1),player2=trigger(k: 150),player3=payoff_dominant,player4=payoff_dominant',
      '--rounds',
      '300',
      '--checkpoint-every',
      '9',
    ],
    relay: [
      example('relay/study.mase'),
      '--experiment',
      'chain',
      '--rounds',
      '60',
      '--checkpoint-every',
      '5',
    ],
    covert: [
      example('covert/study.mase'),
      '--experiment',
      'channel',
      '--institution',
      'stdlib:paraphrase_flagged',
      '--rounds',
      '200',
      '--checkpoint-every',
      '7',
    ],
    feed: [
      example('feed/study.mase'),
      '--experiment',
      'feed_random',
      '--rounds',
      '120',
      '--checkpoint-every',
      '7',
    ],
  };
  it.each(Object.keys(runs))(
    '%s, killed halfway → resumed from its state, byte-identical',
    async (name) => {
      const args = ['run', ...(runs[name] as string[])];
      const whole = `env-${name}-whole`;
      const r = mase([...args, '--out', whole]);
      expect(r.code, r.stderr).toBe(0);
      const out = `env-${name}-killed`;
      await stoppedAt(args, out, Math.floor(statSync(file(`${whole}/events.jsonl`)).size / 2));
      const checkpoint = sandbox.json<{ round: number; state?: unknown }>(`${out}/checkpoint.json`);
      expect(checkpoint.state).toBeDefined();
      expect(expectResumedLike(out, whole)).toEqual([
        { round: checkpoint.round, at: expect.any(String), from: 'state' },
      ]);
    },
  );
});

describe("a fork's run of an environment, stopped after the fork's round and resumed from its state", () => {
  it('goes on with the new growth, the draws and the fishers as the arm never stopped', async () => {
    const fishers =
      'fisher1=conditional,fisher2=conditional,fisher3=sustainable,fisher4=sustainable,fisher5=sustainable';
    const parent = mase(
      `run --environment stdlib:commons --param random_order=true --agents ${fishers} --rounds 300 --out commons-parent`,
    );
    expect(parent.code, parent.stderr).toBe(0);
    const forked = mase('fork commons-parent --at 40 --out commons-fork --param growth=4');
    expect(forked.code, forked.stderr).toBe(0);
    // The fork's arm, played again in this process with checkpoints and stopped after round
    // 200 (scripted forks write none; a fork of LLM agents checkpoints every round).
    const arm = file('commons-fork/runs/intervention-r1');
    const { experiment } = experimentFromRun(arm, 'resumed');
    const out = file('commons-fork-stopped');
    let played = 0;
    await runToDirectory(experiment, out, {
      checkpointEvery: 7,
      onRoundEnd: (round) => {
        played = round;
      },
      shouldStop: () => (played >= 200 ? 'stopped for the test' : undefined),
    });
    const checkpoint = sandbox.json<{ round: number; state?: unknown }>(
      'commons-fork-stopped/checkpoint.json',
    );
    expect(checkpoint.round).toBe(196);
    expect(checkpoint.state).toBeDefined();
    await resumeRun(out);
    for (const name of ['events.jsonl', 'metrics.json'])
      expect(sha(`${out}/${name}`), name).toBe(sha(`${arm}/${name}`));
    expect(
      sandbox.json<{ resumed: { from: string }[] }>('commons-fork-stopped/manifest.json').resumed,
    ).toEqual([expect.objectContaining({ round: 196, from: 'state' })]);
  });
});

describe('a text world killed and resumed', () => {
  // Susceptible hosts (each its own random stream and infection state) on a small world,
  // with messages whose ids and lineage continue across the checkpoint.
  const world = [
    'run',
    '--environment',
    'stdlib:infection',
    '--institution',
    'stdlib:quarantine_canary',
    '--param',
    'hosts=150',
    '--agents',
    'susceptible(0.3, 0.1)',
    '--talk',
    'small_world(k: 4)',
    '--rounds',
    '400',
    '--checkpoint-every',
    '7',
  ];
  it.each(draws(2, 0.1, 0.9).map((at, i) => [i, at]))(
    'kill %i at %f of the trace → resume ends byte-identical',
    async (i, at) => {
      if (!existsSync(file('world-whole/metrics.json'))) {
        const r = mase([...world, '--out', 'world-whole']);
        expect(r.code, r.stderr).toBe(0);
      }
      const out = `world-killed-${i}`;
      const size = statSync(file('world-whole/events.jsonl')).size;
      await stoppedAt(world, out, Math.floor(at * size));
      // The hosts' infections and streams, the kind's state, the quarantine machines and
      // the message ledger are saved: the run goes on from them.
      expect(sandbox.json<{ state?: unknown }>(`${out}/checkpoint.json`).state).toBeDefined();
      expect(expectResumedLike(out, 'world-whole')).toEqual([
        { round: expect.any(Number), at: expect.any(String), from: 'state' },
      ]);
    },
  );
});

describe('LLM firms killed and resumed (scripted chat-completions server)', () => {
  let server: ScriptedServer;
  beforeAll(async () => {
    server = await startScriptedServer((r) =>
      answer([20 + ((roundOf(r) ?? 0) % 7) + (firmOf(r) === 'f1' ? 1 : 0)], 'varies by round'),
    );
  });
  afterAll(() => server.close());
  /** 150 rounds of two LLM firms under the institution, each run its own cache. */
  const run = (out: string, ...more: string[]) =>
    cournotRun(
      'llm',
      150,
      GOVERNED,
      '--model',
      `openai-compatible:${server.url}#tiny`,
      ...more,
      '--cache',
      file(`${out}.cache.db`),
      '--out',
      out,
    );
  /** The trace without what differs between a model's answer and the cache's (timings, marks). */
  const strip = (dir: string) =>
    read(`${dir}/events.jsonl`)
      .trimEnd()
      .split('\n')
      .map((line) =>
        JSON.parse(line, (key, value) =>
          key.endsWith('_ms') || key === 'cache_hit' ? undefined : value,
        ),
      );

  it('the rounds after the checkpoint are asked, those before are not; the run ends as an uninterrupted one', async () => {
    const whole = await sandbox.maseAsync(run('llm-whole'));
    expect(whole.code, whole.stderr).toBe(0);
    const asked = server.requests.length;
    expect(asked).toBe(300);
    const size = statSync(file('llm-whole/events.jsonl')).size;
    const args = run('llm-killed');
    // The whole run asked 300 questions; the killed one is stopped partway through.
    await stoppedAt(args.slice(0, -2), 'llm-killed', Math.floor(size * 0.6));
    const before = server.requests.length;
    // Checkpoints every round by default when firms ask models.
    const checkpoint = sandbox.json<{ round: number }>('llm-killed/checkpoint.json');
    const resumed = await sandbox.maseAsync(['run', '--resume', '--out', 'llm-killed']);
    expect(resumed.code, resumed.stderr).toBe(0);
    // The firms' memories, the usage so far and the endpoints' sample counts are saved: the
    // run goes on from them, asking nothing (not even the cache) for the rounds before.
    const manifest = sandbox.json<{
      resumed: { from: string }[];
      llm_usage: { total: { calls: number } };
    }>('llm-killed/manifest.json');
    expect(manifest.resumed).toEqual([expect.objectContaining({ from: 'state' })]);
    // The usage counts every round's calls, those before the checkpoint included.
    expect(manifest.llm_usage.total.calls).toBe(300);
    // Only the rounds after the checkpoint were asked again (those of the round the kill
    // interrupted may have been answered and cached already).
    const askedAgain = server.requests.length - before;
    expect(askedAgain).toBeLessThanOrEqual(2 * (150 - checkpoint.round));
    expect(askedAgain).toBeGreaterThanOrEqual(2 * (150 - checkpoint.round - 1));
    expect(strip('llm-killed')).toEqual(strip('llm-whole'));
    expect(read('llm-killed/metrics.json')).toBe(read('llm-whole/metrics.json'));
    // The seal names the sha256 of events.jsonl, whose timings differ; the rest is the same.
    const unsealed = (dir: string) =>
      logEntries(dir).map(({ events_sha256: _sha, ...entry }) => entry);
    expect(unsealed('llm-killed')).toEqual(unsealed('llm-whole'));
  });

  it("a fork's run (a replaced firm, a new demand) killed after the fork's round resumes from its state", async () => {
    if (!existsSync(file('llm-whole/metrics.json')))
      expect((await sandbox.maseAsync(run('llm-whole'))).code).toBe(0);
    const fork = [
      'fork',
      'llm-whole',
      '--at',
      '60',
      '--agents',
      'f2=nash',
      '--param',
      'intercept=130',
    ];
    const ref = await sandbox.maseAsync([...fork, '--out', 'fork-ref']);
    expect(ref.code, ref.stderr).toBe(0);
    const arm = 'runs/intervention-r1';
    const size = statSync(file(`fork-ref/${arm}/events.jsonl`)).size;
    // Killed when the arm's trace is well past the fork's round (60 of 150).
    await stoppedAt(
      fork,
      'fork-killed',
      Math.floor(size * 0.8),
      'SIGKILL',
      {},
      `fork-killed/${arm}/events.jsonl`,
    );
    const checkpoint = sandbox.json<{ round: number; state?: unknown }>(
      `fork-killed/${arm}/checkpoint.json`,
    );
    expect(checkpoint.round).toBeGreaterThan(60);
    expect(checkpoint.state).toBeDefined();
    const resumed = await sandbox.maseAsync(['run', '--resume', '--out', `fork-killed/${arm}`]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(
      sandbox.json<{ resumed: { from: string }[] }>(`fork-killed/${arm}/manifest.json`).resumed,
    ).toEqual([expect.objectContaining({ round: checkpoint.round, from: 'state' })]);
    // The new benchmarks (from round 61), the nash firm and the rest as the arm never killed.
    expect(strip(`fork-killed/${arm}`)).toEqual(strip(`fork-ref/${arm}`));
    expect(read(`fork-killed/${arm}/metrics.json`)).toBe(read(`fork-ref/${arm}/metrics.json`));
  });

  it('a token budget stops the resumed run in the round it stops the run never killed', async () => {
    // About half the tokens 150 rounds take: spent partway through.
    const budget = '300000';
    const whole = await sandbox.maseAsync(run('budget-whole', '--max-tokens', budget));
    type Ended = { status: string; rounds_completed: number; reason: string };
    const ended = sandbox.json<Ended>('budget-whole/manifest.json');
    expect(ended.reason, whole.stderr).toMatch(/token budget \(300000\) is spent/);
    expect(ended.rounds_completed).toBeGreaterThan(40);
    expect(ended.rounds_completed).toBeLessThan(140);
    const size = statSync(file('budget-whole/events.jsonl')).size;
    await stoppedAt(
      run('budget-killed', '--max-tokens', budget).slice(0, -2),
      'budget-killed',
      Math.floor(size * 0.5),
    );
    // The usage before the checkpoint is the resumed run's: it spends the rest of the budget.
    const resumed = await sandbox.maseAsync(['run', '--resume', '--out', 'budget-killed']);
    expect(resumed.code).toBe(whole.code);
    expect(sandbox.json<Ended>('budget-killed/manifest.json')).toMatchObject({
      status: ended.status,
      rounds_completed: ended.rounds_completed,
      reason: ended.reason,
      resumed: [expect.objectContaining({ from: 'state' })],
    });
    expect(strip('budget-killed')).toEqual(strip('budget-whole'));
    expect(read('budget-killed/metrics.json')).toBe(read('budget-whole/metrics.json'));
  });
});

describe('what cannot be resumed says so, and changes nothing', () => {
  const small = cournotRun('qlearning', 3000, GOVERNED, '--checkpoint-every', '10');
  /** A run killed halfway, with a checkpoint. */
  async function killedRun(out: string) {
    if (!existsSync(file('small-whole/metrics.json')))
      expect(mase([...small, '--out', 'small-whole']).code).toBe(0);
    await stoppedAt(small, out, statSync(file('small-whole/events.jsonl')).size / 2);
    expect(existsSync(file(`${out}/checkpoint.json`))).toBe(true);
  }
  const snapshot = (dir: string) =>
    Object.fromEntries(readdirSync(file(dir)).map((n) => [n, sha(file(`${dir}/${n}`))]));
  /** `mase run --resume` fails with exit 2 and MESSAGE, leaving DIR as it was. */
  function expectRefused(dir: string, message: RegExp) {
    const before = snapshot(dir);
    const r = mase(['run', '--resume', '--out', dir]);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(2);
    const after = snapshot(dir);
    // The lock, and the aside files a killed write left (removed as stale by any writer of the
    // directory: runtime/files.ts), are not the run's.
    for (const snap of [before, after])
      for (const name of Object.keys(snap))
        if (name === '.mase-lock' || name.includes('.partial-')) delete snap[name];
    expect(after).toEqual(before);
  }

  it('a finished run', () => {
    expect(mase([...small, '--rounds', '20', '--out', 'finished']).code).toBe(0);
    expectRefused(
      'finished',
      /holds a finished run \(status completed\); there is nothing to resume/,
    );
  });

  it('a directory with no run', () => {
    const r = mase(['run', '--resume', '--out', 'nothing-here']);
    expect(r.stderr).toMatch(/nothing-here holds no run \(no manifest.json\)/);
    expect(r.code).toBe(2);
  });

  it('flags beside --resume', () => {
    const r = mase(['run', '--resume', '--rounds', '5', '--no-cache', '--out', 'x']);
    expect(r.stderr).toContain(
      'mase: --resume continues the run in --out with the sources and flags it recorded; drop --rounds, --no-cache',
    );
    expect(r.code).toBe(2);
  });

  it('a bad --checkpoint-every', () => {
    const r = mase([...small, '--checkpoint-every', 'often', '--out', 'bad-every']);
    expect(r.stderr).toContain('--checkpoint-every takes a whole number ≥ 0, not `often`');
    expect(r.code).toBe(2);
  });

  it('a damaged checkpoint', async () => {
    await killedRun('damaged');
    const whole = read('damaged/checkpoint.json');
    // A saved state that is not the bytes its sha256 names.
    const saved = JSON.parse(whole) as { state: { data: string } };
    const bytes = Buffer.from(saved.state.data, 'base64');
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
    saved.state.data = bytes.toString('base64');
    writeFileSync(file('damaged/checkpoint.json'), JSON.stringify(saved));
    expectRefused(
      'damaged',
      /damaged\/checkpoint.json is damaged \(its state does not match its sha256\); delete it to resume from round 1/,
    );
    // A whole state, of another round than the checkpoint names.
    const moved = JSON.parse(whole) as { round: number };
    writeFileSync(
      file('damaged/checkpoint.json'),
      JSON.stringify({ ...moved, round: moved.round - 10 }),
    );
    expectRefused(
      'damaged',
      /damaged\/checkpoint.json holds the state of another round than its own \(\d+, not \d+\); delete it to resume from round 1/,
    );
    writeFileSync(file('damaged/checkpoint.json'), '{"format":"mase-checkpoint/2","round":');
    expectRefused(
      'damaged',
      /damaged\/checkpoint.json is damaged \(not JSON\); delete it to resume from round 1/,
    );
    writeFileSync(file('damaged/checkpoint.json'), '{"format":"mase-checkpoint/9"}');
    expectRefused(
      'damaged',
      /was written in format mase-checkpoint\/9; this version of MASE reads mase-checkpoint\/2/,
    );
    writeFileSync(file('damaged/checkpoint.json'), '{"format":"mase-checkpoint/2","round":-1}');
    expectRefused('damaged', /is not a checkpoint MASE wrote/);
  });

  it("another run's checkpoint", async () => {
    await killedRun('foreign');
    // The checkpoint of the same run with another seed.
    await stoppedAt([...small, '--seed', '8'], 'foreign-seed', 200_000);
    copyFileSync(file('foreign-seed/checkpoint.json'), file('foreign/checkpoint.json'));
    expectRefused('foreign', /foreign\/checkpoint.json belongs to another run/);
  });

  it('a trace changed before the checkpoint', async () => {
    await killedRun('edited');
    const path = file('edited/events.jsonl');
    const text = readFileSync(path, 'utf8');
    // One firm's quantity in round 5, changed by one digit.
    const at = text.indexOf('{"type":"decision","round":5,');
    const line = text.slice(at, text.indexOf('\n', at));
    const edited = line.replace(
      /"action":\[(\d)/,
      (_m, d: string) => `"action":[${(Number(d) + 1) % 10}`,
    );
    expect(edited).not.toBe(line);
    writeFileSync(path, text.replace(line, edited));
    // Resumed from its saved state, the run reads its trace and finds it is not the bytes
    // the checkpoint names.
    expectRefused(
      'edited',
      /^mase: events.jsonl is not the trace the checkpoint \(round \d+\) names: it was changed before the checkpoint; nothing was written$/m,
    );
    // Without the state (a checkpoint of a run that cannot save one), the rounds played again
    // find the first line that differs.
    const { state: _state, ...bare } =
      sandbox.json<Record<string, unknown>>('edited/checkpoint.json');
    writeFileSync(file('edited/checkpoint.json'), JSON.stringify(bare));
    expectRefused(
      'edited',
      /the run does not make again the trace it wrote up to its checkpoint \(round \d+\): line \d+ of events.jsonl is .*"round":5.*Nothing was written/,
    );
  });

  it('a trace cut before the checkpoint', async () => {
    await killedRun('trace-cut');
    const path = file('trace-cut/events.jsonl');
    writeFileSync(path, readFileSync(path).subarray(0, 1000));
    expectRefused(
      'trace-cut',
      /^mase: events\.jsonl is not the trace the checkpoint \(round \d+\) names: .*trace-cut\/events\.jsonl holds 1000 bytes, fewer than the \d+ expected; nothing was written$/m,
    );
  });

  it('a governance log cut before the checkpoint', async () => {
    await killedRun('cut');
    const path = file('cut/governance-log.jsonl');
    const lines = readFileSync(path, 'utf8').split('\n');
    writeFileSync(path, `${lines.slice(0, 3).join('\n')}\n`);
    expectRefused(
      'cut',
      /governance-log.jsonl holds \d+ bytes, fewer than the \d+ it held at the checkpoint \(round \d+\): it was cut/,
    );
  });
});

describe('a sweep killed during a run', () => {
  it('resumes that run from its checkpoint (`mase sweep --resume`), with the results of a sweep never killed', async () => {
    const source = sandbox.write(
      'long.mase',
      `mase 1
experiment base {
  market cournot
  institution governance_graph
  agents qlearning
  rounds 8000
}
sweep one {
  base base
  factor regime: institution = governance_graph
  replicates 1
  seed 3
}
`,
    );
    const sweep = (out: string, ...more: string[]) => [
      'sweep',
      source,
      '--out',
      out,
      '--workers',
      '1',
      '--checkpoint-every',
      '25',
      ...more,
    ];
    const whole = mase(sweep('sweep-whole'));
    expect(whole.code, whole.stderr).toBe(0);
    const [id] = readdirSync(file('sweep-whole/runs'));
    const size = statSync(file(`sweep-whole/runs/${id}/events.jsonl`)).size;
    let child: ChildProcess | undefined;
    const watch = setInterval(() => {
      try {
        if (statSync(file(`sweep-killed/runs/${id}/events.jsonl`)).size >= size / 2)
          child?.kill('SIGKILL');
      } catch {
        // not written yet
      }
    }, 1);
    await sandbox.maseAsync(sweep('sweep-killed'), {}, (c) => {
      child = c;
    });
    clearInterval(watch);
    expect(existsSync(file(`sweep-killed/runs/${id}/checkpoint.json`))).toBe(true);
    const resumed = mase(sweep('sweep-killed', '--resume'));
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain('1 run now');
    const manifest = sandbox.json<{ resumed?: { round: number }[] }>(
      `sweep-killed/runs/${id}/manifest.json`,
    );
    expect(manifest.resumed?.[0]?.round).toBeGreaterThan(0);
    for (const name of ['events.jsonl', 'metrics.json'])
      expect(sha(file(`sweep-killed/runs/${id}/${name}`))).toBe(
        sha(file(`sweep-whole/runs/${id}/${name}`)),
      );
    const record = (dir: string) => {
      const r = sandbox.json<Record<string, unknown>>(`${dir}/records/${id}.json`);
      return { metrics: r.metrics, series: r.series, transitions: r.transitions_by_edge };
    };
    expect(record('sweep-killed')).toEqual(record('sweep-whole'));
  });
});

describe('`checkpoint every K` in an experiment', () => {
  it('sets the interval; --checkpoint-every overrides it', async () => {
    const source = sandbox.write(
      'every.mase',
      `mase 1
experiment every {
  market cournot
  institution governance_graph
  agents qlearning
  rounds 8000
  checkpoint every 7
}
`,
    );
    const whole = mase(['run', source, '--out', 'every-whole']);
    expect(whole.code, whole.stderr).toBe(0);
    expect(
      sandbox.json<{ checkpoint_every?: number }>('every-whole/manifest.json').checkpoint_every,
    ).toBe(7);
    const off = mase([
      'run',
      source,
      '--checkpoint-every',
      '0',
      '--rounds',
      '10',
      '--out',
      'every-off',
    ]);
    expect(off.code, off.stderr).toBe(0);
    expect(
      sandbox.json<{ checkpoint_every?: number }>('every-off/manifest.json'),
    ).not.toHaveProperty('checkpoint_every');
    const size = statSync(file('every-whole/events.jsonl')).size;
    await stoppedAt(['run', source], 'every-killed', Math.floor(size / 2));
    const checkpoint = sandbox.json<{ round: number }>('every-killed/checkpoint.json');
    expect(checkpoint.round % 7).toBe(0);
    expectResumedLike('every-killed', 'every-whole');
  }, 90_000); // three 8,000-round runs with a checkpoint every 7: a guard against a hang
});
