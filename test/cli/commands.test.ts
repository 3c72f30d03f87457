import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { cliSandbox } from '../support/cli.js';

/**
 * The CLI's layout (runtime/cli/): one file per command under commands/, named after the
 * command, every one of them in main.ts's command table. A command file left out of the
 * table, or a command added to main.ts itself, fails here.
 */

const commandsDir = join(dirname(fileURLToPath(import.meta.url)), '../../runtime/cli/commands');
const { mase } = cliSandbox('commands');

/** The command names `mase --help` lists, in its order (commander's own `help` left out). */
function listedCommands(help: string): string[] {
  const section = help.slice(help.indexOf('Commands:'));
  return [...section.matchAll(/^ {2}([a-z]+)\b/gm)]
    .map((m) => m[1] as string)
    .filter((name) => name !== 'help');
}

it('mase --help lists exactly the commands that have a file in runtime/cli/commands/', () => {
  const files = readdirSync(commandsDir)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.slice(0, -'.ts'.length));
  const r = mase('--help');
  expect(r.code).toBe(0);
  const listed = listedCommands(r.stdout);
  expect([...listed].sort()).toEqual([...files].sort());
  // The order users have always seen: building, then running, then the sweep's tools.
  expect(listed).toEqual([
    'check',
    'compile',
    'draw',
    'manifest',
    'fmt',
    'run',
    'replay',
    'fork',
    'explain',
    'verify',
    'report',
    'sweep',
    'worker',
    'analyze',
    'export',
    'show',
    'model',
    'demo',
  ]);
});
