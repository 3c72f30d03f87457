import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The test command's install step (ensure-system.mjs, which .ci/run runs too) waits when
 * another process holds the package manager's lock, as on a fresh machine running its own
 * updates, instead of giving up. Real apt, real locks: apt takes them with fcntl, so a
 * Python child holds one the same way for a few seconds. Runs as root (here and in CI).
 */

const script = join(dirname(fileURLToPath(import.meta.url)), 'ensure-system.mjs');
const root = mkdtempSync(join(tmpdir(), 'mase-ensure-system-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Holds an fcntl lock on `path` for `seconds`; resolves once it is held. */
function holdLock(path: string, seconds: number): Promise<ChildProcess> {
  const holder = spawn('python3', [
    '-c',
    `import fcntl, sys, time
f = open(sys.argv[1], "w")
fcntl.lockf(f, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))`,
    path,
    String(seconds),
  ]);
  return new Promise((resolve, reject) => {
    holder.stdout.once('data', () => resolve(holder));
    holder.once('exit', (code) => reject(new Error(`the lock holder exited (${code})`)));
  });
}

function node(args: readonly string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env } });
  let output = '';
  child.stdout.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    output += d.toString();
  });
  return new Promise<{ code: number | null; output: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, output })),
  );
}

describe('ensure-system.mjs', () => {
  it("waits for dpkg's lock and then installs", async () => {
    const holder = await holdLock('/var/lib/dpkg/lock-frontend', 4);
    // graphviz is installed: the install step runs all the same, and needs no network.
    const result = await node([script], { MASE_ENSURE_SYSTEM_INSTALL: 'graphviz' });
    holder.kill();
    expect(result.output).toContain(
      'Waiting for cache lock: Could not get lock /var/lib/dpkg/lock-frontend',
    );
    expect(result.output).toContain('graphviz is already the newest version');
    expect(result.code).toBe(0);
  }, 60_000);

  it("waits for the package lists' lock in apt-get update", async () => {
    // An apt of its own (no sources, its own lists and caches), so that the update needs no
    // network and leaves the machine's package lists alone.
    const lists = join(root, 'lists');
    mkdirSync(join(lists, 'partial'), { recursive: true });
    mkdirSync(join(root, 'parts'));
    mkdirSync(join(root, 'cache', 'archives', 'partial'), { recursive: true });
    const config = join(root, 'apt.conf');
    writeFileSync(
      config,
      [
        `Dir::Etc::SourceList "${join(root, 'sources.list')}";`,
        `Dir::Etc::SourceParts "${join(root, 'parts')}";`,
        `Dir::State::Lists "${lists}/";`,
        `Dir::Cache "${join(root, 'cache')}/";`,
        '',
      ].join('\n'),
    );
    writeFileSync(join(root, 'sources.list'), '');
    const holder = await holdLock(join(lists, 'lock'), 4);
    const result = await node(
      [
        '--input-type=module',
        '-e',
        `const { aptGet } = await import(${JSON.stringify(script)}); process.exitCode = aptGet(['update']);`,
      ],
      { APT_CONFIG: config },
    );
    holder.kill();
    expect(result.output).toContain(`Could not get lock ${lists}/lock`);
    expect(result.output).toContain(
      'ensure-system: the package lists are locked; trying again in 3 s',
    );
    expect(result.code).toBe(0);
  }, 60_000);
});
