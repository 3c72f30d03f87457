import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

/**
 * `writeFileAtomic` and `lockDirectory` (runtime/files.ts). The file system calls are
 * watched (the module's `node:fs` is wrapped) to check the order that makes a write durable:
 * the data flushed before the rename, the directory flushed after it.
 */

const calls: string[] = [];
/** Runs once after the next rename of a dead lock aside: another process acting in between. */
let afterNextRename: (() => void) | null = null;
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const paths = new Map<number, string>();
  return {
    ...real,
    openSync: (path: string, ...rest: [string]) => {
      const fd = real.openSync(path, ...rest);
      paths.set(fd, path);
      return fd;
    },
    fsyncSync: (fd: number) => {
      calls.push(`fsync ${paths.get(fd)}`);
      real.fsyncSync(fd);
    },
    renameSync: (from: string, to: string) => {
      calls.push(`rename ${from} → ${to}`);
      real.renameSync(from, to);
      if (!to.includes('.mase-lock.stale-')) return;
      const then = afterNextRename;
      afterNextRename = null;
      then?.();
    },
  };
});

// runtime/files.ts alone (internal to the runtime), loaded after the node:fs mock above.
const { lockDirectory, writeFileAtomic, DirectoryLockedError } = await import(
  '../../runtime/files.js'
);

const root = fs.mkdtempSync(join(tmpdir(), 'mase-files-unit-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('writeFileAtomic', () => {
  it('flushes the data before the rename and the directory after it', () => {
    const target = join(root, 'a.json');
    calls.length = 0;
    writeFileAtomic(target, '{"a": 1}\n');
    expect(fs.readFileSync(target, 'utf8')).toBe('{"a": 1}\n');
    expect(calls).toHaveLength(3);
    const [flushData, rename, flushDir] = calls as [string, string, string];
    expect(flushData).toMatch(new RegExp(`^fsync ${target}\\.partial-${process.pid}-[0-9a-f]+$`));
    expect(rename).toBe(`rename ${flushData.slice('fsync '.length)} → ${target}`);
    expect(flushDir).toBe(`fsync ${root}`);
  });

  it("removes the aside files of the target that dead writers left, not a live writer's", () => {
    const dir = join(root, 'partials');
    fs.mkdirSync(dir);
    const dead = spawnSync(process.execPath, ['-e', '']).pid as number;
    const leftovers = [
      `b.json.partial-${dead}`,
      `b.json.partial-${dead}-0a1b`,
      `b.json.partial-${process.pid}`,
    ];
    // A live process's (this one's parent) is its own business; another target's of a dead one
    // is stale too.
    const live = `b.json.partial-${process.ppid}`;
    const other = `c.json.partial-${dead}`;
    for (const name of [...leftovers, live, other]) fs.writeFileSync(join(dir, name), 'half');
    writeFileAtomic(join(dir, 'b.json'), 'whole');
    expect(fs.readdirSync(dir).sort()).toEqual(['b.json', live].sort());
  });
});

describe('lockDirectory', () => {
  it('refuses a second lock while the first is held, and allows it once released', () => {
    const dir = join(root, 'locked');
    const first = lockDirectory(dir, 'test directory');
    expect(() => lockDirectory(dir, 'test directory')).toThrow(DirectoryLockedError);
    expect(() => lockDirectory(dir, 'test directory')).toThrow(
      new RegExp(`^the test directory ${dir} is in use by process ${process.pid} on `),
    );
    first.release();
    expect(fs.readdirSync(dir)).toEqual([]);
    const second = lockDirectory(dir, 'test directory');
    second.release();
    // Releasing twice does nothing.
    second.release();
  });

  it('says it removed a dead lock when another process took the directory in that moment', () => {
    const dir = join(root, 'raced');
    fs.mkdirSync(dir);
    const holder = (pid: number, token: string) =>
      JSON.stringify({
        pid,
        host: os.hostname(),
        started_at: '2026-01-02T03:04:05.000Z',
        command: `mase run study.mase (${token})`,
        token,
      });
    const dead = spawnSync(process.execPath, ['-e', '']).pid as number;
    const lock = join(dir, '.mase-lock');
    fs.writeFileSync(lock, holder(dead, 'dead'));
    // The other process (alive: this one's parent) links its lock into place just after this
    // one has moved the dead lock aside.
    afterNextRename = () => fs.writeFileSync(lock, holder(process.ppid, 'live'));
    const notices: string[] = [];
    expect(() => lockDirectory(dir, 'test directory', (m) => notices.push(m))).toThrow(
      `the test directory ${dir} is in use by process ${process.ppid} on ${os.hostname()}, since 2026-01-02T03:04:05.000Z: mase run study.mase (live) (it locked the directory after this process removed the lock of process ${dead} on ${os.hostname()}, since 2026-01-02T03:04:05.000Z: mase run study.mase (dead), which was no longer running)`,
    );
    expect(notices).toEqual([]);
    // The other process's lock is left in place, and nothing of this one's.
    expect(fs.readdirSync(dir)).toEqual(['.mase-lock']);
    expect(fs.readFileSync(lock, 'utf8')).toContain('"live"');
  });
});
