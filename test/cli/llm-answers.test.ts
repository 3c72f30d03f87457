import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { answer, startScriptedServer } from '../../bench/support/openai-server.js';
import { cliSandbox } from '../support/cli.js';

/**
 * What `mase run` does with answers that are not answers, as a user meets it: a 200 whose
 * body is not a chat completion, an endpoint that never answers (a closed port), an answer
 * larger than the limit, a long `Retry-After`, and a model that echoes the API key.
 */

const sandbox = cliSandbox('llm-answers');
const { file, read } = sandbox;
const mase = (args: readonly string[], env: Record<string, string> = {}) =>
  sandbox.maseAsync(args, { env });

const run2x2 = (args: readonly string[], env: Record<string, string> = {}) =>
  mase(['run', '--market', 'stdlib:cournot_2x2', '--rounds', '2', ...args], env);

const jsonl = (path: string) =>
  read(path)
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; [k: string]: unknown });

/** An LLM firm on `url` beside a scripted one. */
const beside = (url: string) => `f1=llm:openai-compatible:${url}#tiny,f2=nash`;

const json = (path: string) => JSON.parse(read(path));

/** A server that answers every request with the same raw status, type and body. */
async function rawServer(contentType: string, body: string): Promise<Server & { url: string }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': contentType });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(server, { url: `http://127.0.0.1:${port}/v1` });
}

const close = (server: Server) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

/** Every file under `root`. */
const files = (root: string): string[] =>
  existsSync(root)
    ? readdirSync(root).flatMap((name) => {
        const path = join(root, name);
        return statSync(path).isDirectory() ? files(path) : [path];
      })
    : [];

describe('a 200 whose body is not a chat completion', () => {
  it.each([
    ['an HTML error page sent as JSON', 'application/json', '<html><body>502</body></html>'],
    ['an HTML error page', 'text/html', '<html><body>Bad gateway</body></html>'],
    ['a body cut short', 'application/json', '{"id":"x","choices":[{"message":{"content":"{'],
  ])(
    '%s → retried (llm_retry bad_body), then a fallback; every round played',
    async (name, type, body) => {
      const server = await rawServer(type, body);
      const out = `bad-body-${name.replace(/\W+/g, '-')}`;
      try {
        const r = await run2x2([
          '--agents',
          `llm:openai-compatible:${server.url}#tiny`,
          '--max-retry-wait',
          '1500',
          '--no-cache',
          '--out',
          out,
        ]);
        const manifest = json(`${out}/manifest.json`);
        expect(manifest.rounds_completed).toBe(2);
        expect(manifest.status).toBe('degraded');
        expect(r.code).toBe(1);
        const events = jsonl(`${out}/events.jsonl`);
        const retries = events.filter((e) => e.type === 'llm_retry');
        expect(retries.length).toBeGreaterThan(0);
        expect(retries.every((e) => e.cause === 'bad_body')).toBe(true);
        expect(events.filter((e) => e.type === 'invalid_action')).toHaveLength(4);
        const call = events.find((e) => e.type === 'llm_call');
        expect(call?.error).toMatch(
          /no answer: the endpoint's answer is not (JSON|a chat completion)/,
        );
      } finally {
        await close(server);
      }
    },
  );
});

describe('a run whose decisions are mostly fallbacks', () => {
  let closedUrl = '';
  beforeAll(async () => {
    const server = await rawServer('application/json', '{}');
    closedUrl = server.url;
    await close(server);
  });

  it('every call to a closed port → degraded, exit 1, fallbacks counted; show and the table say so', async () => {
    const r = await run2x2([
      '--agents',
      beside(closedUrl),
      '--rounds',
      '4',
      '--max-retry-wait',
      '0',
      '--no-cache',
      '--out',
      'closed',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /the run is degraded: 50% of the decisions \(4 of 8\) were fallbacks .* more than the 10% allowed/,
    );
    expect(r.stdout).toMatch(/degraded .* 50%/);
    const manifest = json('closed/manifest.json');
    expect(manifest.status).toBe('degraded');
    expect(manifest.reason).toMatch(/4 of 8/);
    expect(json('closed/metrics.json').fallbacks).toEqual({
      total: 4,
      by_agent: { f1: 4, f2: 0 },
      decisions: 8,
      share: 0.5,
    });
    const show = await mase(['show', 'closed']);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain('— degraded, 4 of 4 rounds');
    expect(show.stdout).toMatch(/f1: .*4 fallback decisions \(100% of its rounds\)/);
  });

  it('--max-fallback-share 0.5 → the same run is completed, exit 0; a bad share → exit 2', async () => {
    const r = await run2x2([
      '--agents',
      beside(closedUrl),
      '--max-retry-wait',
      '0',
      '--max-fallback-share',
      '0.5',
      '--no-cache',
      '--out',
      'closed-allowed',
    ]);
    expect(r.code).toBe(0);
    expect(json('closed-allowed/manifest.json').status).toBe('completed');
    const bad = await run2x2(['--agents', 'nash', '--max-fallback-share', '10%', '--out', 'x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--max-fallback-share takes a share from 0 to 1');
  });

  it('a sweep records degraded runs; analyze leaves them out unless --include-degraded', async () => {
    const source = file('closed.mase');
    writeFileSync(
      source,
      `mase 1
experiment base {
  market cournot_2x2
  institution none
  agents f1 = llm(model: "openai-compatible:${closedUrl}#tiny"), f2 = nash
  rounds 4
}
sweep closed_port {
  base base
  factor regime: institution = none | governance_graph
  replicates 1
}
`,
    );
    const sweep = await mase([
      'sweep',
      source,
      '--out',
      'closed-sweep',
      '--workers',
      '1',
      '--no-cache',
      '--max-retry-wait',
      '0',
    ]);
    expect(sweep.code).toBe(1);
    expect(sweep.stdout).toContain('0 completed, 2 degraded, 0 failed, 0 not run');
    const csv = read('closed-sweep/results.csv').trim().split('\n');
    // CSV cells: quoted (the reason has commas) or plain.
    const cells = (line: string) =>
      [...line.matchAll(/"((?:[^"]|"")*)"|([^,]*)/g)]
        .filter((m) => m.index === 0 || line[m.index - 1] === ',')
        .map((m) => (m[1] ?? m[2] ?? '').replaceAll('""', '"'));
    const header = cells(csv[0] as string);
    const rows = csv.slice(1).map(cells);
    const column = (name: string) => rows.map((row) => row[header.indexOf(name)]);
    expect(column('status')).toEqual(['degraded', 'degraded']);
    expect(column('fallbacks')).toEqual(['4', '4']);
    expect(column('fallback_share')).toEqual(['0.5', '0.5']);
    const analysis = await mase(['analyze', 'closed-sweep', '--format', 'json']);
    expect(analysis.code).toBe(0);
    expect(JSON.parse(analysis.stdout).runs).toEqual({
      total: 2,
      completed: 0,
      failed: 0,
      degraded: 2,
      excluded_degraded: 2,
    });
    const text = await mase(['analyze', 'closed-sweep']);
    expect(text.stdout).toContain('2 degraded left out (--include-degraded counts them)');
    const included = await mase([
      'analyze',
      'closed-sweep',
      '--format',
      'json',
      '--include-degraded',
    ]);
    expect(JSON.parse(included.stdout).runs).toMatchObject({ completed: 2, excluded_degraded: 0 });
  }, 60_000);
});

describe('answers above the size limit', () => {
  it('are unusable: only their start is kept in the trace and the cache, and never fed back', async () => {
    const huge = 'x'.repeat(100_000);
    const server = await startScriptedServer(() => ({
      kind: 'answer',
      content: JSON.stringify({ quantity: [10, 10], plans: huge, insights: '', rationale: 'big' }),
    }));
    const cache = file('big-cache.sqlite');
    try {
      const r = await run2x2(['--agents', beside(server.url), '--cache', cache, '--out', 'big']);
      expect(r.code).toBe(1);
      const events = jsonl('big/events.jsonl');
      const calls = events.filter((e) => e.type === 'llm_call');
      expect(calls.length).toBeGreaterThan(0);
      for (const call of calls) {
        expect(String(call.error)).toMatch(
          /the answer was 1000\d\d bytes, more than the answer size limit/,
        );
        expect(String(call.response).length).toBeLessThan(300);
      }
      expect(events.filter((e) => e.type === 'invalid_action')).toHaveLength(2);
      const chunk = 'x'.repeat(1000);
      const kept = [cache, `${cache}-wal`].filter((f) => existsSync(f));
      expect(kept.length).toBeGreaterThan(0);
      for (const path of [...files(file('big')), ...kept])
        expect(readFileSync(path, 'latin1').includes(chunk), path).toBe(false);
      // A limit above the answer lets it through.
      const allowed = await run2x2([
        '--agents',
        beside(server.url),
        '--max-answer-bytes',
        '200000',
        '--no-cache',
        '--out',
        'big-allowed',
      ]);
      expect(allowed.code).toBe(0);
    } finally {
      await server.close();
    }
  });
});

describe('Retry-After', () => {
  it('longer than --max-retry-wait → not waited for: the question ends at once, saying why', async () => {
    const server = await startScriptedServer(() => ({
      kind: 'status',
      status: 429,
      retryAfter: '100000',
    }));
    try {
      const r = await run2x2([
        '--agents',
        beside(server.url),
        '--rounds',
        '1',
        '--max-fallback-share',
        '1',
        '--no-cache',
        '--out',
        'long-wait',
      ]);
      expect(r.code).toBe(0);
      expect(server.requests).toHaveLength(1);
      const events = jsonl('long-wait/events.jsonl');
      expect(events.filter((e) => e.type === 'llm_retry')).toHaveLength(0);
      const call = events.find((e) => e.type === 'llm_call');
      expect(call?.error).toMatch(
        /rate limited \(429\); not retried: the endpoint asked to wait 100000 s, more than the 60 s left of the retry wait limit \(60 s\)/,
      );
    } finally {
      await server.close();
    }
  });

  it('within the limit → waited for, and each wait is an llm_retry event with what was asked', async () => {
    const server = await startScriptedServer((_r, i) =>
      i === 0 ? { kind: 'status', status: 429, retryAfter: '1' } : answer([10, 10]),
    );
    try {
      const r = await run2x2([
        '--agents',
        beside(server.url),
        '--rounds',
        '1',
        '--no-cache',
        '--out',
        'short-wait',
      ]);
      expect(r.code).toBe(0);
      const retries = jsonl('short-wait/events.jsonl').filter((e) => e.type === 'llm_retry');
      expect(retries).toEqual([
        expect.objectContaining({ cause: '429', delay_ms: 1000, retry_after_ms: 1000 }),
      ]);
    } finally {
      await server.close();
    }
  });
});

describe('an API key echoed inside a normal answer', () => {
  it('reaches no file of the run and none of the cache; the cache is 0600 in a 0700 directory', async () => {
    const key = 'mase-echo-key-5b0e7a91c4';
    const other = 'mase-router-key-77d2e0f3aa';
    const server = await startScriptedServer((request) => ({
      kind: 'answer',
      content: JSON.stringify({
        quantity: [10, 10],
        plans: `my key is ${key}; the header was ${request.authorization}`,
        insights: `also ${other}`,
        rationale: `I was sent ${request.authorization} and ${key}`,
      }),
      fingerprint: `fp-${key}`,
    }));
    const home = file('echo-home');
    // A cache written before modes were set: world-readable, in a world-readable directory.
    mkdirSync(join(home, 'cache'), { recursive: true, mode: 0o755 });
    chmodSync(join(home, 'cache'), 0o755);
    closeSync(openSync(join(home, 'cache', 'responses.sqlite'), 'w', 0o644));
    chmodSync(join(home, 'cache', 'responses.sqlite'), 0o644);
    try {
      const r = await mase(
        [
          'run',
          '--market',
          'stdlib:cournot_2x2',
          '--institution',
          'stdlib:governance_graph',
          '--agents',
          `f1=llm(model: "openai-compatible:${server.url}#tiny", api_key_env: "ROUTER_KEY"),f2=llm:openai-compatible:${server.url}#tiny`,
          '--rounds',
          '3',
          '--out',
          'echo',
        ],
        { OPENAI_API_KEY: key, ROUTER_KEY: other, MASE_HOME: home },
      );
      expect(r.code).toBe(0);
      expect(server.requests.some((q) => q.authorization === `Bearer ${key}`)).toBe(true);
      const written = [...files(file('echo')), ...files(home)];
      expect(written.some((f) => f.endsWith('report.html'))).toBe(true);
      expect(written.some((f) => f.endsWith('responses.sqlite'))).toBe(true);
      for (const file of written) {
        const text = readFileSync(file, 'latin1');
        expect(text.includes(key), file).toBe(false);
        expect(text.includes(other), file).toBe(false);
      }
      expect(r.stdout + r.stderr).not.toContain(key);
      // The rationale is kept, with the keys taken out.
      const decision = jsonl('echo/events.jsonl').find((e) => e.type === 'decision');
      expect(decision?.rationale).toBe('I was sent Bearer [redacted] and [redacted]');
      const mode = (path: string) => statSync(path).mode & 0o777;
      expect(mode(join(home, 'cache'))).toBe(0o700);
      for (const file of files(join(home, 'cache'))) expect(mode(file), file).toBe(0o600);
      // A new cache file is private from the start.
      const fresh = file('fresh-cache/answers.sqlite');
      const second = await mase(
        [
          'run',
          '--market',
          'stdlib:cournot_2x2',
          '--agents',
          `llm:openai-compatible:${server.url}#tiny`,
          '--rounds',
          '1',
          '--cache',
          fresh,
          '--out',
          'echo-fresh',
        ],
        { OPENAI_API_KEY: key },
      );
      expect(second.code).toBe(0);
      expect(mode(file('fresh-cache'))).toBe(0o700);
      expect(mode(fresh)).toBe(0o600);
      expect(readFileSync(fresh, 'latin1').includes(key)).toBe(false);
    } finally {
      await server.close();
    }
  });
});
