import { createHash, randomBytes } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  canonicalJson,
  chainEntry,
  decodeLogKey,
  GOVERNANCE_LOG_FILE,
  GOVERNANCE_LOG_FORMAT,
  type GovernanceEntryInput,
  GovernanceLog,
  type GovernanceLogEntry,
  genesisMac,
  governanceEntryOf,
  type JsonValue,
  type ManifestSeal,
  readLogKey,
  resolveLogKey,
  runLogKey,
  sealManifest,
  verifyGovernanceLog,
  verifyRunDirectory,
} from '../../../runtime/index.js';

const RUN_ID = 'run-2024-01-01T00:00:00Z-abc123';
const DIGEST = 'sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0';

// One entry of every kind, including a round-0 notice (the initial state's entry) and
// text that is not ASCII, so byte-level edits meet multi-byte characters.
const ENTRIES: GovernanceEntryInput[] = [
  { kind: 'notice', round: 0, firm: 'acme', state: 'watch', text: 'You are being watched — élan' },
  {
    kind: 'blocked',
    round: 1,
    firm: 'acme',
    id: 't1',
    from: 'watch',
    to: 'warn',
    reason: 'streak',
    held: 1,
    needed: 3,
  },
  {
    kind: 'transition',
    round: 3,
    firm: 'acme',
    id: 't1',
    from: 'watch',
    to: 'warn',
    rule: 'P1',
    restorative: false,
  },
  {
    kind: 'blocked',
    round: 3,
    firm: 'acme',
    id: 't2',
    from: 'watch',
    to: 'fine',
    reason: 'priority',
    fired: 't1',
  },
  {
    kind: 'sanction',
    round: 3,
    firm: 'acme',
    state: 'warn',
    sanction: 'fine',
    timing: 'entry',
    amount: 12.5,
  },
  { kind: 'notice', round: 3, firm: 'acme', state: 'warn', text: 'Warning: "stop" \\ now' },
  {
    kind: 'transition',
    round: 4,
    firm: null,
    id: 'm1',
    from: 'calm',
    to: 'alert',
    rule: null,
    restorative: true,
  },
  {
    kind: 'sanction',
    round: 5,
    firm: 'bolt',
    state: 'warn',
    sanction: 'credit',
    timing: 'each_round',
    amount: 1e21,
  },
];

let root: string;
let home: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'mase-govlog-'));
  home = join(root, 'mase-home');
  vi.stubEnv('MASE_HOME', home);
  vi.stubEnv('MASE_LOG_KEY', undefined);
});

afterEach(() => {
  vi.unstubAllEnvs();
  rmSync(root, { recursive: true, force: true });
});

/** A run directory with a bare manifest and an unsealed log of `entries`, MACed with `key` itself. */
function writeLog(key: Buffer, entries = ENTRIES, name = 'run'): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ run_id: RUN_ID, digest: DIGEST }));
  const log = new GovernanceLog(dir, { key, manifestDigest: DIGEST, runId: RUN_ID });
  for (const e of entries) log.append(e);
  log.close();
  return dir;
}

const NONCE = '0123456789abcdef0123456789abcdef';
const EVENTS = '{"type":"run_end","status":"completed","rounds_completed":5}\n';

/** The log key of the runs `writeRun` writes, derived from the stored key `key`. */
const runKey = (key: Buffer) =>
  runLogKey(key, { runId: RUN_ID, manifestDigest: DIGEST, nonce: NONCE, llm: null });

/**
 * A run directory as `mase run` leaves it: a manifest with the log's nonce, events.jsonl,
 * and a governance log of `entries` under the run's key derived from `key`, sealed, with
 * the seal recorded in the manifest.
 */
function writeRun(key: Buffer, entries = ENTRIES, name = 'run'): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const manifest: Record<string, unknown> & { seal?: ManifestSeal } = {
    run_id: RUN_ID,
    digest: DIGEST,
    log: { format: GOVERNANCE_LOG_FORMAT, nonce: NONCE },
    status: 'completed',
    rounds_completed: 5,
  };
  writeFileSync(join(dir, 'events.jsonl'), EVENTS);
  const log = new GovernanceLog(dir, { key: runKey(key), manifestDigest: DIGEST, runId: RUN_ID });
  for (const e of entries) log.append(e);
  const sealed = log.seal({
    round: 5,
    status: 'completed',
    events_sha256: createHash('sha256').update(EVENTS).digest('hex'),
    metrics_sha256: null,
  });
  log.close();
  sealManifest(manifest, runKey(key), { status: 'completed', rounds_completed: 5, ...sealed });
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  return dir;
}

const intact = (entries: number) =>
  `intact: ${entries + 1} entries (seal included), manifest.json, events.jsonl are as the run wrote them; the run completed 5 rounds`;

function logText(dir: string): string {
  return readFileSync(join(dir, GOVERNANCE_LOG_FILE), 'utf8');
}

function linesOf(text: string): string[] {
  return text.split('\n').slice(0, -1);
}

const joinLines = (lines: string[]): string => lines.map((l) => `${l}\n`).join('');

const expected = { runId: RUN_ID, manifestDigest: DIGEST };

/** A different JSON value of the same shape, so the edited line stays canonical. */
function altered(v: JsonValue): JsonValue {
  if (typeof v === 'string') return `${v}x`;
  if (typeof v === 'number') return v * 2 + 1; // v + 1 would equal v for 1e21
  if (typeof v === 'boolean') return !v;
  if (v === null) return 'x';
  return null;
}

/** The log re-chained from scratch with `key`: each entry's content, fresh MACs. */
function rechain(text: string, key: Buffer, runId = RUN_ID, digest = DIGEST): string {
  let previous = genesisMac(key, runId, digest);
  const out: string[] = [];
  for (const line of linesOf(text)) {
    const { mac: _m, prev_mac: _p, ...body } = JSON.parse(line) as GovernanceLogEntry;
    const sealed = chainEntry(previous, { ...body, manifest_digest: digest }, key);
    previous = sealed.mac;
    out.push(canonicalJson(sealed as unknown as JsonValue));
  }
  return joinLines(out);
}

describe('GovernanceLog', () => {
  it('writes one canonical, chained line per entry', () => {
    const key = randomBytes(32);
    const dir = writeLog(key);
    const lines = linesOf(logText(dir));
    expect(lines).toHaveLength(ENTRIES.length);
    const parsed = lines.map((l) => JSON.parse(l) as GovernanceLogEntry);
    expect(parsed.map((e) => e.seq)).toEqual(ENTRIES.map((_, i) => i + 1));
    expect(parsed[0]?.prev_mac).toBe(genesisMac(key, RUN_ID, DIGEST));
    for (let i = 1; i < parsed.length; i++) expect(parsed[i]?.prev_mac).toBe(parsed[i - 1]?.mac);
    for (const [i, e] of parsed.entries()) {
      expect(e).toMatchObject({ ...ENTRIES[i], manifest_digest: DIGEST });
      expect(canonicalJson(e as unknown as JsonValue)).toBe(lines[i]);
    }
    expect(verifyGovernanceLog(logText(dir), key, expected)).toEqual({
      ok: true,
      entries: ENTRIES.length,
    });
  });

  it('refuses to overwrite an existing log, and reserved or malformed fields', () => {
    const key = randomBytes(32);
    const dir = writeLog(key);
    expect(() => new GovernanceLog(dir, { key, manifestDigest: DIGEST, runId: RUN_ID })).toThrow(
      /EEXIST/,
    );
    const other = join(root, 'other');
    mkdirSync(other);
    const log = new GovernanceLog(other, { key, manifestDigest: DIGEST, runId: RUN_ID });
    const notice = ENTRIES[0] as GovernanceEntryInput;
    expect(() => log.append({ ...notice, seq: 7 } as unknown as GovernanceEntryInput)).toThrow(
      /seq/,
    );
    expect(() => log.append({ ...notice, round: 1.5 })).toThrow(/round/);
    expect(() =>
      log.append({ ...notice, kind: 'vote' } as unknown as GovernanceEntryInput),
    ).toThrow(/kind/);
    log.append(notice);
    log.close();
    expect(() => log.append(notice)).toThrow(/closed/);
    expect(verifyGovernanceLog(logText(other), key, expected)).toEqual({ ok: true, entries: 1 });
  });

  it('keeps non-finite amounts as text rather than losing them', () => {
    const key = randomBytes(32);
    const sanction = ENTRIES[4] as GovernanceEntryInput & { kind: 'sanction' };
    const dir = writeLog(key, [{ ...sanction, amount: Number.POSITIVE_INFINITY }]);
    expect(JSON.parse(linesOf(logText(dir))[0] as string).amount).toBe('inf');
    expect(verifyGovernanceLog(logText(dir), key, expected).ok).toBe(true);
  });

  it('maps trace events to entries', () => {
    expect(
      governanceEntryOf({ type: 'notice', round: 2, firm: 'acme', state: 's', text: 't' }),
    ).toEqual({ kind: 'notice', round: 2, firm: 'acme', state: 's', text: 't' });
    expect(
      governanceEntryOf({ type: 'run_end', status: 'completed', rounds_completed: 3 }),
    ).toBeUndefined();
  });
});

describe('verifyGovernanceLog', () => {
  const key = randomBytes(32);
  let text: string;
  let lines: string[];

  beforeEach(() => {
    text = logText(writeLog(key));
    lines = linesOf(text);
  });

  it('accepts an intact log, and an empty one', () => {
    expect(verifyGovernanceLog(text, key, expected)).toEqual({ ok: true, entries: ENTRIES.length });
    expect(verifyGovernanceLog('', key, expected)).toEqual({ ok: true, entries: 0 });
  });

  it('fails at the line where any field of any line was altered', () => {
    for (const [i, line] of lines.entries()) {
      const entry = JSON.parse(line) as Record<string, JsonValue>;
      for (const field of Object.keys(entry)) {
        const edited = { ...entry, [field]: altered(entry[field] as JsonValue) };
        const copy = [...lines];
        copy[i] = canonicalJson(edited);
        const result = verifyGovernanceLog(joinLines(copy), key, expected);
        expect(result, `line ${i + 1} field ${field}`).toMatchObject({ ok: false, line: i + 1 });
      }
    }
  });

  it('fails at the line where a line was removed', () => {
    for (let i = 0; i < lines.length - 1; i++) {
      const copy = lines.filter((_, j) => j !== i);
      expect(verifyGovernanceLog(joinLines(copy), key, expected)).toMatchObject({
        ok: false,
        line: i + 1,
      });
    }
    // Removing the first line: the new first line does not start the run's chain.
    const fromSecond = joinLines(lines.slice(1));
    expect(verifyGovernanceLog(fromSecond, key, expected)).toMatchObject({ ok: false, line: 1 });
  });

  it('reports a cut tail only when told how many entries to expect', () => {
    const cut = joinLines(lines.slice(0, -2));
    expect(verifyGovernanceLog(cut, key, expected)).toEqual({
      ok: true,
      entries: lines.length - 2,
    });
    expect(verifyGovernanceLog(cut, key, { ...expected, entries: lines.length })).toEqual({
      ok: false,
      line: lines.length - 1,
      reason: `truncated: ${lines.length - 2} entries, ${lines.length} expected`,
    });
    expect(verifyGovernanceLog(text, key, { ...expected, entries: lines.length })).toEqual({
      ok: true,
      entries: lines.length,
    });
  });

  it('fails at a torn last line, while the prefix before it verifies', () => {
    const torn = text.slice(0, text.length - 20);
    const result = verifyGovernanceLog(torn, key, expected);
    expect(result).toMatchObject({ ok: false, line: lines.length });
    expect(result.ok === false && result.reason).toMatch(/incomplete line/);
    const prefix = torn.slice(0, torn.lastIndexOf('\n') + 1);
    expect(verifyGovernanceLog(prefix, key, expected)).toEqual({
      ok: true,
      entries: lines.length - 1,
    });
  });

  it('fails at the first of two swapped lines', () => {
    for (let i = 0; i < lines.length - 1; i++) {
      const copy = [...lines];
      [copy[i], copy[i + 1]] = [copy[i + 1] as string, copy[i] as string];
      expect(verifyGovernanceLog(joinLines(copy), key, expected)).toMatchObject({
        ok: false,
        line: i + 1,
      });
    }
  });

  it('fails at an inserted line: a duplicate, a forged entry, a blank line', () => {
    for (let i = 0; i <= lines.length; i++) {
      if (i > 0) {
        // Line i again, right after itself: authentic, but out of place.
        const duplicate = [...lines.slice(0, i), lines[i - 1] as string, ...lines.slice(i)];
        expect(verifyGovernanceLog(joinLines(duplicate), key, expected)).toMatchObject({
          ok: false,
          line: i + 1,
        });
      }
      // A forged entry chained correctly after line i, but MACed without the key.
      const previous =
        i === 0 ? genesisMac(key, RUN_ID, DIGEST) : JSON.parse(lines[i - 1] as string).mac;
      const forged = chainEntry(
        previous,
        { ...(ENTRIES[0] as GovernanceEntryInput), seq: i + 1, manifest_digest: DIGEST },
        randomBytes(32),
      );
      const withForged = [
        ...lines.slice(0, i),
        canonicalJson(forged as unknown as JsonValue),
        ...lines.slice(i),
      ];
      expect(verifyGovernanceLog(joinLines(withForged), key, expected)).toMatchObject({
        ok: false,
        line: i + 1,
      });
      const blank = [...lines.slice(0, i), '', ...lines.slice(i)];
      expect(verifyGovernanceLog(joinLines(blank), key, expected)).toEqual({
        ok: false,
        line: i + 1,
        reason: 'empty line',
      });
    }
  });

  it('fails at line 1 when the whole log was re-chained with another key', () => {
    const other = randomBytes(32);
    const forged = rechain(text, other);
    // The forgery is a valid chain under its own key, so only the key tells them apart.
    expect(verifyGovernanceLog(forged, other, expected)).toEqual({
      ok: true,
      entries: lines.length,
    });
    const result = verifyGovernanceLog(forged, key, expected);
    expect(result).toMatchObject({ ok: false, line: 1 });
    expect(result.ok === false && result.reason).toMatch(/every entry/);
    // Re-chained after an edit of the content too.
    const edited = text.replace('12.5', '0.5');
    expect(verifyGovernanceLog(rechain(edited, other), key, expected)).toMatchObject({
      ok: false,
      line: 1,
    });
  });

  it('fails at line 1 under a wrong key', () => {
    expect(verifyGovernanceLog(text, randomBytes(32), expected)).toMatchObject({
      ok: false,
      line: 1,
    });
  });

  it('fails at line 1 for another manifest digest or run id', () => {
    const digest = verifyGovernanceLog(text, key, { ...expected, manifestDigest: 'sha256:other' });
    expect(digest).toMatchObject({ ok: false, line: 1 });
    expect(digest.ok === false && digest.reason).toMatch(/manifest_digest/);
    // A log moved from another run of the same experiment (same digest, same key).
    const run = verifyGovernanceLog(text, key, { ...expected, runId: 'another-run' });
    expect(run).toMatchObject({ ok: false, line: 1 });
    expect(run.ok === false && run.reason).toMatch(/another run/);
    // Re-chained under the right key for another digest, it still is not this run's.
    const moved = rechain(text, key, RUN_ID, 'sha256:other');
    expect(verifyGovernanceLog(moved, key, expected)).toMatchObject({ ok: false, line: 1 });
  });

  it('refuses a line that is not canonical, even when its content is the same', () => {
    const copy = [...lines];
    copy[2] = (copy[2] as string).replace('{', '{ ');
    expect(verifyGovernanceLog(joinLines(copy), key, expected)).toEqual({
      ok: false,
      line: 3,
      reason: 'not in canonical form (keys sorted, no whitespace)',
    });
    // 1e21 is written 1e+21; 1e021 is the same number in other bytes.
    const big = lines.findIndex((l) => l.includes('1e+21'));
    expect(big).toBeGreaterThanOrEqual(0);
    const same = [...lines];
    same[big] = (same[big] as string).replace('1e+21', '1e021');
    expect(verifyGovernanceLog(joinLines(same), key, expected)).toMatchObject({
      ok: false,
      line: big + 1,
    });
  });

  it('detects any single-byte change to any line, at that line', () => {
    const bytes = Buffer.from(text, 'utf8');
    fc.assert(
      fc.property(
        fc.nat({ max: bytes.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (offset, delta) => {
          const changed = Buffer.from(bytes);
          changed[offset] = ((bytes[offset] as number) + delta) % 256;
          const line = bytes.subarray(0, offset).filter((b) => b === 0x0a).length + 1;
          const result = verifyGovernanceLog(changed.toString('utf8'), key, expected);
          expect(result).toMatchObject({ ok: false, line });
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('log keys', () => {
  function filesUnder(dir: string): string[] {
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((d) => d.isFile())
      .map((d) => join(d.parentPath, d.name));
  }

  it('generates a key per run, stored 0600 outside the run directory, and never written into it', () => {
    const resolved = resolveLogKey(RUN_ID);
    expect(resolved.source).toBe('file');
    expect(resolved.key).toHaveLength(32);
    expect(resolved.path).toBe(join(home, 'keys', `${RUN_ID}.key`));
    const path = resolved.path as string;
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, 'keys')).mode & 0o777).toBe(0o700);
    expect(statSync(home).mode & 0o777).toBe(0o700);
    // Asking again gives the same key: a stored key is never replaced.
    expect(resolveLogKey(RUN_ID).key.equals(resolved.key)).toBe(true);
    expect(readdirSync(join(home, 'keys'))).toEqual([`${RUN_ID}.key`]);

    const dir = writeRun(resolved.key);
    expect(relative(dir, path).startsWith('..')).toBe(true);
    const forms = [
      resolved.key.toString('hex'),
      resolved.key.toString('base64'),
      resolved.key.toString('base64url'),
    ];
    for (const file of filesUnder(dir)) {
      const content = readFileSync(file);
      expect(content.includes(resolved.key), file).toBe(false);
      for (const form of forms) {
        expect(content.toString('latin1').toLowerCase().includes(form.toLowerCase()), file).toBe(
          false,
        );
      }
    }
    expect(readLogKey(RUN_ID)?.equals(resolved.key)).toBe(true);
    expect(verifyRunDirectory(dir)).toEqual({
      ok: true,
      message: intact(ENTRIES.length),
    });
  });

  it('falls back to XDG_DATA_HOME/mase, then ~/.local/share/mase', () => {
    vi.stubEnv('MASE_HOME', undefined);
    vi.stubEnv('XDG_DATA_HOME', join(root, 'xdg'));
    expect(resolveLogKey('r1').path).toBe(join(root, 'xdg', 'mase', 'keys', 'r1.key'));
    vi.stubEnv('XDG_DATA_HOME', undefined);
    vi.stubEnv('HOME', join(root, 'home'));
    expect(resolveLogKey('r2').path).toBe(
      join(root, 'home', '.local', 'share', 'mase', 'keys', 'r2.key'),
    );
  });

  it('refuses a key file inside the run directory and run ids that are not one file name', () => {
    const dir = join(root, 'run');
    vi.stubEnv('MASE_HOME', join(dir, '.mase'));
    expect(() => resolveLogKey(RUN_ID, { runDir: dir })).toThrow(/inside the run directory/);
    vi.stubEnv('MASE_HOME', home);
    for (const bad of ['', '../x', 'a/b', '.hidden', 'a\\b'])
      expect(() => resolveLogKey(bad)).toThrow(/run id/);
  });

  it('uses MASE_LOG_KEY when set: hex decoded, anything else as UTF-8', () => {
    const key = randomBytes(32);
    vi.stubEnv('MASE_LOG_KEY', key.toString('hex'));
    const resolved = resolveLogKey(RUN_ID);
    expect(resolved).toEqual({ key, source: 'env' });
    expect(() => statSync(join(home, 'keys'))).toThrow(/ENOENT/);
    const dir = writeRun(resolved.key);
    expect(verifyRunDirectory(dir)).toEqual({
      ok: true,
      message: intact(ENTRIES.length),
    });
    vi.stubEnv('MASE_LOG_KEY', 'correct horse battery staple');
    expect(resolveLogKey(RUN_ID).key.toString('utf8')).toBe('correct horse battery staple');
    expect(decodeLogKey('0aFF')).toEqual(Buffer.from([0x0a, 0xff]));
    expect(decodeLogKey('abc')).toEqual(Buffer.from('abc', 'utf8'));
    // Verifying under another MASE_LOG_KEY fails and names where the key came from.
    const result = verifyRunDirectory(dir);
    expect(result.ok).toBe(false);
    expect(result.message).toMatch(
      /^governance log broken at line 1: .*\(key from MASE_LOG_KEY\)$/,
    );
  });
});

describe('verifyRunDirectory', () => {
  it('prefers --key-file, and reports a broken log in one line', () => {
    const key = randomBytes(32);
    const dir = writeRun(key);
    const keyFile = join(root, 'key.txt');
    writeFileSync(keyFile, `${key.toString('hex')}\n`);
    expect(verifyRunDirectory(dir, keyFile)).toEqual({
      ok: true,
      message: intact(ENTRIES.length),
    });
    const lines = linesOf(logText(dir));
    writeFileSync(
      join(dir, GOVERNANCE_LOG_FILE),
      joinLines([lines[0] as string, ...lines.slice(2)]),
    );
    const result = verifyRunDirectory(dir, keyFile);
    expect(result.ok).toBe(false);
    expect(result.message).toMatch(/^governance log broken at line 2: seq 3 where 2 was expected/);
    expect(result.message).not.toContain('\n');
  });

  it('says what is missing instead of throwing', () => {
    const dir = writeRun(randomBytes(32));
    const noKey = verifyRunDirectory(dir);
    expect(noKey.ok).toBe(false);
    expect(noKey.message).toContain(`no log key for run ${RUN_ID}`);
    expect(noKey.message).toContain('--key-file');
    expect(verifyRunDirectory(dir, join(root, 'missing.key'))).toMatchObject({
      ok: false,
      message: expect.stringMatching(/key file .*missing\.key does not exist/),
    });
    const empty = join(root, 'empty');
    mkdirSync(empty);
    expect(verifyRunDirectory(empty).message).toMatch(/no manifest\.json/);
    writeFileSync(join(empty, 'manifest.json'), JSON.stringify({ run_id: RUN_ID }));
    expect(verifyRunDirectory(empty).message).toMatch(/no digest/);
    writeFileSync(join(empty, 'manifest.json'), JSON.stringify({ run_id: RUN_ID, digest: DIGEST }));
    expect(verifyRunDirectory(empty).message).toMatch(/no log nonce/);
    writeFileSync(
      join(empty, 'manifest.json'),
      JSON.stringify({
        run_id: RUN_ID,
        digest: DIGEST,
        log: { format: GOVERNANCE_LOG_FORMAT, nonce: NONCE },
      }),
    );
    expect(verifyRunDirectory(empty).message).toMatch(/no governance-log\.jsonl/);
  });
});
