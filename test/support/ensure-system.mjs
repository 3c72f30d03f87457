// Runs before everything else in `npm test`: the suite exercises real system programs (no
// conditional skips), so a missing one must be installed here or reported loudly.
//
// MASE_ENSURE_SYSTEM_INSTALL=PKG[,PKG…] runs the install step for these packages even when
// nothing is missing, with no `apt-get update` (its test installs an installed package while
// another process holds the package manager's lock, with no network).
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';

// command on PATH -> Debian package that provides it. Keep .ci/run's apt-get line in step.
// chromium: test/runtime/report/report.test.ts opens reports in it (playwright-core downloads no browser).
const REQUIRED = [
  { command: 'dot', pkg: 'graphviz' },
  { command: 'chromium', pkg: 'chromium' },
  { command: 'redis-server', pkg: 'redis-server' },
];

/**
 * How long to wait for another process's hold on the package manager's lock (a fresh machine
 * running its own updates), in seconds; .ci/run waits as long.
 */
export const LOCK_WAIT_SECONDS = 600;

function onPath(command) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not in this directory; keep looking
    }
  }
  return false;
}

/** `Could not get lock /var/lib/apt/lists/lock` and the like: another apt or dpkg holds it. */
const LOCKED = /Could not get lock|Unable to lock/;

/**
 * Runs `apt-get ARGS`, waiting for the package manager's locks rather than giving up on them:
 * dpkg's lock through apt's own `DPkg::Lock::Timeout`, and the package lists' lock (which
 * `apt-get update` does not wait for as of apt 2.6) by trying again every few seconds until
 * `waitSeconds` have passed. Returns apt-get's exit code; its output goes to stderr.
 */
export function aptGet(args, { waitSeconds = LOCK_WAIT_SECONDS, env = process.env } = {}) {
  const deadline = Date.now() + waitSeconds * 1000;
  const full = ['-o', `DPkg::Lock::Timeout=${waitSeconds}`, ...args];
  // Only `update` is read for a lock message; the rest streams as it comes.
  const retried = args[0] === 'update';
  for (;;) {
    process.stderr.write(`ensure-system: apt-get ${full.join(' ')}\n`);
    // stdout goes to stderr too, so nothing pollutes whatever reads the test run's stdout.
    const result = spawnSync('apt-get', full, {
      stdio: ['ignore', process.stderr, retried ? 'pipe' : process.stderr],
      encoding: 'utf8',
      env: { ...env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (result.error) {
      process.stderr.write(`ensure-system: could not run apt-get: ${result.error.message}\n`);
      return 1;
    }
    if (!retried) return result.status ?? 1;
    process.stderr.write(result.stderr);
    if (result.status === 0 || !LOCKED.test(result.stderr) || Date.now() >= deadline)
      return result.status ?? 1;
    process.stderr.write('ensure-system: the package lists are locked; trying again in 3 s\n');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000);
  }
}

function apt(args) {
  const status = aptGet(args);
  if (status !== 0) {
    process.stderr.write(`ensure-system: apt-get ${args[0]} failed (exit ${status})\n`);
    process.exit(1);
  }
}

function main() {
  const forced = (process.env.MASE_ENSURE_SYSTEM_INSTALL ?? '').split(',').filter(Boolean);
  const missing = REQUIRED.filter(({ command }) => !onPath(command));
  if (missing.length === 0 && forced.length === 0) return;
  const pkgs = [...new Set([...missing.map(({ pkg }) => pkg), ...forced])];
  const what = missing.map(({ command, pkg }) => `"${command}" (package ${pkg})`).join(', ');
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    process.stderr.write(
      `ensure-system: the test suite needs ${what || pkgs.join(', ')}, which is not on PATH.\n` +
        `Install it with: sudo apt-get install -y --no-install-recommends ${pkgs.join(' ')}\n`,
    );
    process.exit(1);
  }
  if (missing.length > 0) apt(['update']);
  apt(['install', '-y', '--no-install-recommends', ...pkgs]);
  const still = missing.filter(({ command }) => !onPath(command));
  if (still.length > 0) {
    const names = still.map(({ command }) => command).join(', ');
    process.stderr.write(`ensure-system: still missing after install: ${names}\n`);
    process.exit(1);
  }
}

// Run as a script (`node test/support/ensure-system.mjs`); a test imports `aptGet` alone.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
