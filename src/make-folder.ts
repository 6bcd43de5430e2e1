/** Creating a folder and its parents, safely where Node's own recursive mkdir is not. */
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * `mkdir -p`. Not `mkdir(dir, { recursive: true })`: Node's steps back to the parent on ENOENT and forward
 * again on EEXIST, forever, at 100% CPU, where a parent exists but cannot hold the child (under /proc, or
 * a symbolic link to nothing): the daemon hung at start, saying nothing.
 */
export async function makeFolder(dir: string): Promise<void> {
  try {
    await mkdir(dir);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // There already: fine if it is a folder (or a link to one); a file, or a link to nothing, is an error.
    if (code === 'EEXIST' && (await stat(dir).then((s) => s.isDirectory(), () => false))) return;
    if (code !== 'ENOENT' || path.dirname(dir) === dir) throw err;
  }
  await makeFolder(path.dirname(dir));
  // The parent is there now: a second ENOENT is final (the parent cannot hold folders).
  await mkdir(dir).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST' || !(await stat(dir).then((s) => s.isDirectory(), () => false))) throw err;
  });
}
