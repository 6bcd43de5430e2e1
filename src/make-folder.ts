/** Creating a folder and its parents, safely where Node's own recursive mkdir is not. */
import { constants } from 'node:fs';
import { access, lstat, mkdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/**
 * Modes of what driftlock creates in `data_dir`: queued alerts (which quote log lines), detector snapshots
 * (templates and values of the logs), checkpoints (the paths it tails). Readable by the daemon's user only,
 * whatever the umask (022 gave every local user read access). Folders that were there already keep their
 * modes.
 */
export const STATE_FOLDER_MODE = 0o700;
export const STATE_FILE_MODE = 0o600;

/**
 * `mkdir -p`. Not `mkdir(dir, { recursive: true })`: Node's steps back to the parent on ENOENT and forward
 * again on EEXIST, forever, at 100% CPU, where a parent exists but cannot hold the child (under /proc, or
 * a symbolic link to nothing): the daemon hung at start, saying nothing.
 */
export async function makeFolder(dir: string, mode?: number): Promise<void> {
  try {
    await mkdir(dir, mode);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // There already: fine if it is a folder (or a link to one); a file, or a link to nothing, is an error.
    if (code === 'EEXIST' && (await stat(dir).then((s) => s.isDirectory(), () => false))) return;
    if (code !== 'ENOENT' || path.dirname(dir) === dir) throw err;
  }
  await makeFolder(path.dirname(dir), mode);
  // The parent is there now: a second ENOENT is final (the parent cannot hold folders).
  await mkdir(dir, mode).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST' || !(await stat(dir).then((s) => s.isDirectory(), () => false))) throw err;
  });
}

/**
 * A folder driftlock keeps state in (`data_dir`, the folder of `scan`/`stream --state`): made with its
 * parents when it is not there (`STATE_FOLDER_MODE`), and checked to be writable now, not when the state is
 * first saved. `created`: it was not there; else why it cannot be used, in words (`whyNoFolder`), with the
 * system's error.
 */
export async function stateFolder(dir: string): Promise<{ created: boolean } | { reason: string; err: NodeJS.ErrnoException }> {
  const existed = await stat(dir).then(() => true, () => false);
  try {
    await makeFolder(dir, STATE_FOLDER_MODE);
    await access(dir, constants.W_OK);
    return { created: !existed };
  } catch (err) {
    return { reason: await whyNoFolder(dir, err as NodeJS.ErrnoException), err: err as NodeJS.ErrnoException };
  }
}

/**
 * Why a folder (`data_dir`, an output file's folder) could not be created or written, in words: what is in
 * the way, or what forbids it ("/var/log/app is a file, not a folder"), for a system error that says it
 * cryptically (`EEXIST: file already exists, mkdir`). `self`: how the folder itself is named (`it`).
 */
export async function whyNoFolder(dataDir: string, err: NodeJS.ErrnoException, self = 'it'): Promise<string> {
  switch (err.code) {
    case 'EROFS':
      return 'it is on a read-only filesystem';
    case 'EACCES':
      return noPermission(dataDir, err, self);
    case 'EPERM':
      return 'not permitted';
    case 'EEXIST':
    case 'ENOTDIR':
    case 'ENOENT': {
      // The deepest part of the path that exists is what is in the way.
      for (let at = dataDir; ; at = path.dirname(at)) {
        const link = await lstat(at).catch(() => undefined);
        const named = at === dataDir ? self : at;
        if (link) {
          const target = await stat(at).catch(() => undefined);
          if (!target) return `${named} is a symbolic link to nothing`;
          if (!target.isDirectory()) return `${named} is a file, not a folder`;
          return err.code === 'ENOENT' ? `${named} does not take new folders` : 'it cannot be created';
        }
        if (path.dirname(at) === at) return 'it cannot be created';
      }
    }
    default:
      return 'it cannot be created or written';
  }
}

/** The user the process runs as, as `ls -l` and `id` name it: `user nobody (uid 65534)`, or `uid 1234` without a name. */
export function processUser(): { said: string; short: string } {
  const uid = process.getuid?.();
  const name = (() => {
    try {
      return os.userInfo().username;
    } catch {
      // A uid with no entry in /etc/passwd (a container run with --user 1234).
      return undefined;
    }
  })();
  if (name) return { said: `user ${name}${uid === undefined ? '' : ` (uid ${uid})`}`, short: name };
  return { said: `uid ${uid ?? '?'}`, short: `uid ${uid ?? '?'}` };
}

/**
 * Why a file could not be read, in words: a missing file or a refused one said plainly (before: the system's
 * message, `ENOENT: no such file or directory, stat '/var/log/x'`, after the file's name already said).
 */
export function readProblem(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return 'no such file';
  if (e.code === 'EACCES') return `permission denied to ${processUser().said}`;
  if (e.code === 'EISDIR') return 'it is a folder';
  return e.message;
}

/**
 * A folder this process may not list (a file input's include folder), in words: who it refuses and what to
 * do (before, a glob under it was said to match no file yet, as if files might still come).
 */
export function folderUnreadable(dir: string): string {
  const user = processUser();
  return `the folder ${dir} cannot be read by ${user.said}: no file in it is read until it can be (give ${user.short} read access to it, or run driftlock as a user who can read it)`;
}

/** System calls whose EACCES is the refusal of the path they name; for the others (mkdir, open), its folder's. */
const REFUSED_BY_PATH = new Set(['access', 'scandir', 'opendir']);

/**
 * EACCES, said with the folder that refused (before: only "permission denied", the system's message naming
 * the folder not made yet, not its parent that refused), the user the daemon runs as, and what to do.
 */
function noPermission(dir: string, err: NodeJS.ErrnoException, self: string): string {
  const target = err.path ?? dir;
  const refusing = err.path === undefined || REFUSED_BY_PATH.has(err.syscall ?? '') ? target : path.dirname(target);
  const user = processUser();
  const named = refusing === dir ? self : refusing;
  const todo = refusing === dir
    ? `give ${user.short} write access to ${dir}`
    : `create ${dir} and give ${user.short} write access to it`;
  return `${named} does not let ${user.said} ${refusing === dir ? 'write in it' : 'create folders in it'} (${todo}, or choose a folder ${user.short} can write)`;
}
