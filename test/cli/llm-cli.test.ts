import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  answer,
  firmOf,
  type ScriptedServer,
  startScriptedServer,
} from '../../bench/support/openai-server.js';
import { cliSandbox } from '../support/cli.js';

/**
 * `mase run` with LLM firms, end to end: the built CLI in a child process (spawned
 * asynchronously, so the scripted server in this process can answer it), and the flags
 * that choose models, limits and horizons.
 */

const sandbox = cliSandbox('llm-cli');
const { file, read, write } = sandbox;
/** Runs the CLI without blocking, so the scripted servers in this process can answer it. */
const mase = (args: readonly string[], env: Record<string, string> = {}) =>
  sandbox.maseAsync(args, { env });
let server: ScriptedServer;
let refusing: ScriptedServer;

/** `mase run --market stdlib:cournot_2x2 …`. */
const run2x2 = (args: readonly string[], env: Record<string, string> = {}) =>
  mase(['run', '--market', 'stdlib:cournot_2x2', ...args], env);

const jsonl = (path: string) =>
  read(path)
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; [k: string]: unknown });

beforeAll(async () => {
  server = await startScriptedServer((r) =>
    r.body.messages[1]?.content.includes('before anyone acts')
      ? {
          kind: 'answer',
          content: JSON.stringify({
            messages: [{ to: [firmOf(r) === 'f1' ? 'f2' : 'f1'], text: 'you take B, I take A' }],
          }),
        }
      : answer(firmOf(r) === 'f1' ? [60, 0] : [0, 60], 'divide the market'),
  );
  refusing = await startScriptedServer(() => ({
    kind: 'status',
    status: 401,
    message: 'Incorrect API key provided',
  }));
});
afterAll(async () => {
  await server.close();
  await refusing.close();
});

describe('mase run with LLM firms', () => {
  it('--agents llm --model openai-compatible:URL#MODEL → every firm asks the model', async () => {
    const model = `openai-compatible:${server.url}#tiny`;
    const r = await run2x2([
      '--institution',
      'stdlib:governance_graph',
      '--agents',
      'llm',
      '--model',
      model,
      '--rounds',
      '4',
      '--concurrency',
      '2',
      '--out',
      'all-llm',
    ]);
    expect(r.stderr).toContain('status: completed');
    expect(r.code).toBe(0);
    const events = jsonl('all-llm/events.jsonl');
    const decisions = events.filter((e) => e.type === 'decision');
    expect(decisions).toHaveLength(8);
    expect(decisions.every((d) => d.rationale === 'divide the market')).toBe(true);
    expect(events.filter((e) => e.type === 'llm_call')).toHaveLength(8);
    const manifest = JSON.parse(read('all-llm/manifest.json'));
    expect(manifest.models).toEqual([expect.objectContaining({ spec: model, model: 'tiny' })]);
    expect(manifest.policies.f1.name).toBe('llm');
  });

  it('mase replay all-llm --out … → the same decisions from the cache, no model called', async () => {
    const before = server.requests.length;
    const r = await mase(['replay', 'all-llm', '--out', 'all-llm-replay']);
    expect(r.code).toBe(0);
    expect(server.requests.length).toBe(before);
    const decisions = (path: string) =>
      jsonl(path)
        .filter((e) => e.type === 'decision')
        .map((e) => [e.round, e.firm, e.action, e.rationale]);
    expect(decisions('all-llm-replay/events.jsonl')).toEqual(decisions('all-llm/events.jsonl'));
    const missing = await mase(['replay', 'nowhere', '--out', 'x']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nowhere holds no run \(no manifest.json\)/);
  });

  it('--agents f1=llm:SPEC,f2=nash → one LLM firm beside a scripted one', async () => {
    const r = await run2x2([
      '--agents',
      `f1=llm:openai-compatible:${server.url}#tiny,f2=nash`,
      '--rounds',
      '3',
      '--horizon',
      'unknown',
      '--out',
      'mixed',
    ]);
    expect(r.code).toBe(0);
    const calls = jsonl('mixed/events.jsonl').filter((e) => e.type === 'llm_call');
    expect(calls.map((c) => c.firm)).toEqual(['f1', 'f1', 'f1']);
    // An unknown horizon is not told: the round prompt says "Round 1." and no "of 3".
    const texts = jsonl('mixed/events.jsonl').filter((e) => e.type === 'text');
    expect(texts.some((t) => String(t.text).startsWith('Round 1.\n'))).toBe(true);
    expect(texts.some((t) => String(t.text).includes('Round 1 of 3'))).toBe(false);
  });

  it('mase replay … --cache MISSING → exit 2 naming the file; nothing written, no file made', async () => {
    const cache = file('no-such-cache.sqlite');
    const r = await mase(['replay', 'all-llm', '--out', 'replay-no-cache', '--cache', cache]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`the response cache ${cache}`);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(existsSync(cache)).toBe(false);
    expect(existsSync(file('replay-no-cache'))).toBe(false);
  });

  it('mase run … --cache PATH that cannot be made → exit 2 naming it, nothing written', async () => {
    // A path under a file, as under /etc/passwd: no directory can be made there.
    write('plain-file', 'not a directory');
    const cache = file('plain-file/x.sqlite');
    const r = await run2x2([
      '--agents',
      `llm:openai-compatible:${server.url}#tiny`,
      '--cache',
      cache,
      '--out',
      'bad-cache',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`cannot open the response cache ${cache}`);
    expect(existsSync(file('bad-cache'))).toBe(false);
  });

  it('mase demo with MASE_MODEL naming a missing file → exit 1 naming it; nothing fetched', async () => {
    const missing = file('nonexistent.gguf');
    const models = file('demo-models');
    const r = await mase(['demo', '--out', 'demo-missing'], {
      MASE_MODEL: missing,
      MASE_MODELS: models,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`the model file ${missing} does not exist`);
    expect(r.stderr).not.toMatch(/internal error|E_INTERNAL/);
    expect(existsSync(models)).toBe(false);
    expect(existsSync(file('demo-missing'))).toBe(false);
  });

  it('an endpoint that quotes the key back in its refusal → the key reaches no file and not stderr', async () => {
    const key = 'mase-cli-key-7d3e21b0';
    const quoting = await startScriptedServer((r) => ({
      kind: 'status',
      status: 401,
      message: `Incorrect API key provided: ${r.authorization}`,
    }));
    try {
      const r = await run2x2(
        ['--agents', `llm:openai-compatible:${quoting.url}#tiny`, '--out', 'quoted-key'],
        { OPENAI_API_KEY: key },
      );
      expect(quoting.requests[0]?.authorization).toBe(`Bearer ${key}`);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/the run failed: f1 .*401.*\[redacted\]/);
      expect(r.stderr).not.toContain(key);
      expect(r.stdout).not.toContain(key);
      const files = (root: string): string[] =>
        readdirSync(root).flatMap((name) => {
          const path = join(root, name);
          return statSync(path).isDirectory() ? files(path) : [path];
        });
      const written = [...files(file('quoted-key')), ...files(file('home'))];
      expect(written.some((f) => f.endsWith('manifest.json'))).toBe(true);
      for (const file of written) expect(readFileSync(file, 'latin1'), file).not.toContain(key);
      const manifest = JSON.parse(read('quoted-key/manifest.json'));
      expect(manifest.status).toBe('failed');
      expect(manifest.reason).toMatch(/401/);
    } finally {
      await quoting.close();
    }
  });

  it('a bad model spec or limit → exit 2 with the reason, nothing written', async () => {
    const bad = await run2x2(['--agents', 'llm', '--model', 'gpt-4o', '--out', 'bad']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--model: unknown model `gpt-4o`; expected openai:/);
    const noKey = await run2x2(['--agents', 'llm(model: "openai:gpt-4o-mini")', '--out', 'bad']);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(/needs an API key: set OPENAI_API_KEY/);
    const limit = await run2x2([
      '--agents',
      'llm',
      '--model',
      `openai-compatible:${server.url}#tiny`,
      '--concurrency',
      '0',
      '--out',
      'bad',
    ]);
    expect(limit.code).toBe(2);
    expect(limit.stderr).toMatch(/--concurrency takes a whole number ≥ 1/);
  });

  it('an endpoint that refuses the key → the run fails with the reason, exit 1, no stack', async () => {
    const r = await run2x2([
      '--agents',
      'llm',
      '--model',
      `openai-compatible:${refusing.url}#tiny`,
      '--out',
      'refused',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the run failed: f1 .*401/);
    const manifest = JSON.parse(read('refused/manifest.json'));
    expect(manifest.status).toBe('failed');
    expect(manifest.reason).toMatch(/401/);
  });

  it('--talk complete → LLM firms talk before acting; a bad topology → exit 2', async () => {
    const r = await run2x2([
      '--agents',
      `llm:openai-compatible:${server.url}#tiny`,
      '--talk',
      'complete(max_chars: 40)',
      '--rounds',
      '2',
      '--out',
      'talky',
    ]);
    expect(r.code).toBe(0);
    const manifest = JSON.parse(read('talky/manifest.json'));
    expect(manifest.talk).toEqual({ name: 'complete', args: [{ name: 'max_chars', value: 40 }] });
    const events = jsonl('talky/events.jsonl');
    expect(events.filter((e) => e.type === 'llm_call' && e.purpose === 'talk')).toHaveLength(4);
    expect(events.filter((e) => e.type === 'message')).toHaveLength(4);
    const report = read('talky/report.html');
    expect(report).toContain('Who wrote to whom (messages over the run)');
    // Each round's network is drawn: one cluster per round in one inline SVG.
    expect(report).toMatch(/<figcaption>Who wrote to whom in each of the first 2 rounds/);
    expect(report.match(/>round [12]</g)).toHaveLength(2);
    // A run with talk replays too: its talk turns come from the cache like its decisions.
    const replay = await mase(['replay', 'talky', '--out', 'talky-replay']);
    expect(replay.code).toBe(0);
    const said = (path: string) =>
      jsonl(path)
        .filter((e) => e.type === 'message')
        .map((e) => [e.round, e.from, e.to, e.text]);
    expect(said('talky-replay/events.jsonl')).toEqual(said('talky/events.jsonl'));
    const bad = await run2x2(['--agents', 'nash', '--talk', 'mesh', '--out', 'bad-talk']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown talk topology `mesh`/);
  });

  it('--prices and --max-cost → the run stops, interrupted, when the cost budget is spent', async () => {
    const r = await run2x2([
      '--agents',
      `llm:openai-compatible:${server.url}#tiny`,
      '--prices',
      '1000,1000',
      '--max-cost',
      '2',
      '--rounds',
      '50',
      '--out',
      'costly',
    ]);
    expect(r.code).toBe(1);
    const manifest = JSON.parse(read('costly/manifest.json'));
    expect(manifest.status).toBe('interrupted');
    expect(manifest.reason).toMatch(/cost budget \(2\) is spent/);
    expect(manifest.rounds_completed).toBeGreaterThan(0);
    expect(manifest.llm_usage.total.cost).toBeGreaterThanOrEqual(2);
    // Its replay stops where it stopped, though answers from the cache cost nothing.
    const replay = await mase(['replay', 'costly', '--out', 'costly-replay']);
    expect(replay.stderr).toContain('status: interrupted');
    expect(replay.code).toBe(1);
    const replayed = JSON.parse(read('costly-replay/manifest.json'));
    expect(replayed).toMatchObject({
      status: 'interrupted',
      rounds_completed: manifest.rounds_completed,
      reason: manifest.reason,
    });
    const bad = await run2x2(['--agents', 'nash', '--max-cost', '5', '--out', 'bad-cost']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--max-cost needs --prices/);
  });

  it('--continuation 0.5 → random stopping, the rounds played recorded', async () => {
    const r = await run2x2([
      '--agents',
      'nash',
      '--rounds',
      '200',
      '--continuation',
      '0.5',
      '--out',
      'random-end',
    ]);
    expect(r.code).toBe(0);
    const manifest = JSON.parse(read('random-end/manifest.json'));
    expect(manifest.horizon).toEqual({ known: true, continuation: 0.5 });
    expect(manifest.rounds_completed).toBeLessThan(200);
    const bad = await run2x2(['--agents', 'nash', '--continuation', '1.5', '--out', 'bad-end']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--continuation takes a probability strictly between 0 and 1/);
  });
});
