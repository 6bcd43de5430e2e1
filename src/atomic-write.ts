/**
 * Replaces a file's content atomically: the data goes to a temp file beside it (optionally fsynced), which is
 * then renamed over the file, so a crash leaves the old content or the new one, never half of either. Used by
 * every piece of state driftlock keeps in `data_dir` (checkpoints, queue positions, detector snapshots).
 */
import { mkdir, open, rename } from 'node:fs/promises';
import path from 'node:path';

export async function writeFileAtomic(file: string, data: string | Buffer, options: { fsync?: boolean } = {}): Promise<void> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp`;
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(data);
    if (options.fsync) await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
}
