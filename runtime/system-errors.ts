/**
 * Failures of the machine rather than of MASE or of its input: a full disk, an I/O error,
 * a read-only filesystem, a path that is a file, a permission. They reach the user as one
 * plain line naming the path and the cause (exit 4), never as an internal error.
 */

const CAUSES: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EIO: 'input/output error (the disk or filesystem failed)',
  EROFS: 'the filesystem is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a part of the path is a file, not a directory',
  EISDIR: 'it is a directory',
  EEXIST: 'it already exists',
  ENOENT: 'no such file or directory',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files on the system',
  ENAMETOOLONG: 'the name is too long',
  ELOOP: 'too many symbolic links (a symlink loop)',
  EFBIG: 'the file is too large',
  EBUSY: 'the resource is busy',
  ENOMEM: 'out of memory',
};

/** A Node error from a system call (it has an errno `code` this module knows, and a `syscall`). */
export function isSystemError(error: unknown): error is NodeJS.ErrnoException {
  if (!(error instanceof Error)) return false;
  const e = error as NodeJS.ErrnoException;
  return typeof e.code === 'string' && e.code in CAUSES && typeof e.syscall === 'string';
}

const VERBS: Readonly<Record<string, string>> = {
  open: 'open',
  write: 'write',
  read: 'read',
  mkdir: 'create the directory',
  rename: 'rename',
  unlink: 'remove',
  fsync: 'sync',
  ftruncate: 'truncate',
  scandir: 'list',
  stat: 'read',
  lstat: 'read',
  link: 'create',
  copyfile: 'copy',
  close: 'close',
};

/** One line for the user: `cannot write PATH: no space left on the device (ENOSPC)`. */
export function describeSystemError(error: NodeJS.ErrnoException, path?: string): string {
  const code = error.code ?? 'error';
  const cause = CAUSES[code] ?? error.message;
  const where = path ?? error.path ?? (error as { dest?: string }).dest;
  const verb = VERBS[error.syscall ?? ''] ?? error.syscall ?? 'use';
  return `cannot ${verb}${where ? ` ${where}` : ''}: ${cause} (${code})`;
}
