// Runs before everything else in `npm test`: the suite exercises real system programs (no
// conditional skips), so a missing one must be installed here or reported loudly.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

// command on PATH -> Debian package that provides it. Keep .ci/run's apt-get line in step.
// chromium: test/runtime/report.test.ts opens reports in it (playwright-core downloads no browser).
const REQUIRED = [
  { command: 'dot', pkg: 'graphviz' },
  { command: 'chromium', pkg: 'chromium' },
  { command: 'redis-server', pkg: 'redis-server' },
];

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

function apt(args) {
  process.stderr.write(`ensure-system: apt-get ${args.join(' ')}\n`);
  // stdout goes to stderr too, so nothing pollutes whatever reads the test run's stdout.
  const result = spawnSync('apt-get', args, {
    stdio: ['ignore', process.stderr, process.stderr],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.error) {
    process.stderr.write(`ensure-system: could not run apt-get: ${result.error.message}\n`);
    process.exit(1);
  }
  if (result.status !== 0) {
    process.stderr.write(`ensure-system: apt-get ${args[0]} failed (exit ${result.status})\n`);
    process.exit(1);
  }
}

const missing = REQUIRED.filter(({ command }) => !onPath(command));
if (missing.length > 0) {
  const pkgs = [...new Set(missing.map(({ pkg }) => pkg))];
  const what = missing.map(({ command, pkg }) => `"${command}" (package ${pkg})`).join(', ');
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    process.stderr.write(
      `ensure-system: the test suite needs ${what}, which is not on PATH.\n` +
        `Install it with: sudo apt-get install -y --no-install-recommends ${pkgs.join(' ')}\n`,
    );
    process.exit(1);
  }
  apt(['update']);
  apt(['install', '-y', '--no-install-recommends', ...pkgs]);
  const still = missing.filter(({ command }) => !onPath(command));
  if (still.length > 0) {
    const names = still.map(({ command }) => command).join(', ');
    process.stderr.write(`ensure-system: still missing after install: ${names}\n`);
    process.exit(1);
  }
}
