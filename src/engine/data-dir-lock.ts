/**
 * One daemon per `data_dir`: two daemons on the same folder would read every file twice, overwrite each
 * other's checkpoints and queue files, and deliver everything twice (Vector refuses this too). The lock is
 * proper-lockfile's: a `driftlock.lock` folder in `data_dir` (mkdir is atomic, also on network
 * filesystems) whose mtime the holder refreshes; a lock not refreshed for `STALE_MS` (its daemon was
 * killed) is taken over. A daemon restarted right after a SIGKILL waits for that.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import type { Logger } from 'pino';

export const LOCK_NAME = 'driftlock.lock';
const STALE_MS = 5_000;

export class DataDirInUse extends Error {
  constructor(readonly dataDir: string) {
    super(`data_dir ${dataDir} is in use by another driftlock (the lock ${path.join(dataDir, LOCK_NAME)} is held and kept fresh); give each daemon its own data_dir`);
    this.name = 'DataDirInUse';
  }
}

/** Takes the lock of `dataDir` (creating the folder), waiting up to about `STALE_MS` for a stale one. */
export async function lockDataDir(dataDir: string, logger: Logger): Promise<() => Promise<void>> {
  await mkdir(dataDir, { recursive: true });
  try {
    return await lockfile.lock(dataDir, {
      lockfilePath: path.join(dataDir, LOCK_NAME),
      stale: STALE_MS,
      update: STALE_MS / 2,
      retries: { retries: 7, factor: 1, minTimeout: 1_000, maxTimeout: 1_000 },
      realpath: false,
      // The default throws from a timer, which would kill the daemon: say it loudly instead.
      onCompromised: (err) => logger.error({ err, data_dir: dataDir }, 'lost the data_dir lock (not refreshed in time, or removed): another daemon may now use this data_dir'),
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOCKED') throw new DataDirInUse(dataDir);
    throw err;
  }
}
