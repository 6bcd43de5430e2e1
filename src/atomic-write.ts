/**
 * Replaces a file's content atomically: the data goes to a temp file beside it (optionally fsynced), which is
 * then renamed over the file, so a crash leaves the old content or the new one, never half of either. Used by
 * every piece of state driftlock keeps in `data_dir` (checkpoints, queue positions, detector snapshots).
 */
import { open, rename } from 'node:fs/promises';
import path from 'node:path';
import { makeFolder, STATE_FILE_MODE, STATE_FOLDER_MODE } from './make-folder.js';

/** Pieces of text written in turn are gathered into writes of about this many characters. */
const WRITE_CHARS = 1 << 20;

/**
 * `data` may also be pieces of text, written in turn: content longer than one string can hold, made one
 * piece at a time (each write lets other work run).
 */
export async function writeFileAtomic(file: string, data: string | Buffer | Iterable<string>, options: { fsync?: boolean } = {}): Promise<void> {
  await makeFolder(path.dirname(path.resolve(file)), STATE_FOLDER_MODE);
  const tmp = `${file}.tmp`;
  const handle = await open(tmp, 'w', STATE_FILE_MODE);
  try {
    if (typeof data === 'string' || Buffer.isBuffer(data)) await handle.writeFile(data);
    else {
      let batch: string[] = [];
      let chars = 0;
      for (const piece of data) {
        batch.push(piece);
        chars += piece.length;
        if (chars >= WRITE_CHARS) {
          await handle.writeFile(batch.join(''));
          batch = [];
          chars = 0;
        }
      }
      if (batch.length > 0) await handle.writeFile(batch.join(''));
    }
    // EINVAL: a file that cannot be synced (a FIFO, a socket; fsync(2)): there is nothing to make durable.
    if (options.fsync) await handle.sync().catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EINVAL') throw err;
    });
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
}
