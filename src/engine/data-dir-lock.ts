/**
 * One daemon per `data_dir`: two daemons on the same folder would read every file twice, overwrite each
 * other's checkpoints and queue files, and deliver everything twice (Vector refuses this too). The lock is
 * proper-lockfile's: a `driftlock.lock` folder in `data_dir` (mkdir is atomic, also on network
 * filesystems) whose mtime the holder refreshes; a lock not refreshed for `STALE_MS` (its daemon was
 * killed) is taken over. A daemon restarted right after a SIGKILL waits for that. A daemon that finds its
 * own lock taken over (it was paused for longer than that) exits at once.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import type { Logger } from 'pino';

export const LOCK_NAME = 'driftlock.lock';
/** Exit code of a daemon that lost its data_dir lock (EX_TEMPFAIL: start it again once the other is gone). */
export const LOCK_LOST_EXIT_CODE = 75;
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
  const lockfilePath = path.join(dataDir, LOCK_NAME);
  // Held: by a running daemon (refused), or by one that was killed (stale soon). Said before the wait.
  if (await lockfile.check(dataDir, { lockfilePath, stale: STALE_MS, realpath: false }).catch(() => false)) {
    logger.info({ data_dir: dataDir }, `the data_dir lock is held; waiting up to ${(STALE_MS + 2_000) / 1000} s in case its daemon was killed (its lock then goes stale)`);
  }
  try {
    return await lockfile.lock(dataDir, {
      lockfilePath,
      stale: STALE_MS,
      update: STALE_MS / 2,
      retries: { retries: 7, factor: 1, minTimeout: 1_000, maxTimeout: 1_000 },
      realpath: false,
      // The lock was not refreshed in time (the process was paused: Ctrl-Z, docker pause, a debugger, a
      // frozen VM) or was removed: another daemon may own the folder now. Going on would write over its
      // checkpoints and queues, and saving anything at shutdown would too; so the daemon exits at once, as
      // after a crash: what it had not delivered is read again or resent (delivery is at-least-once).
      onCompromised: (err) => {
        logger.fatal({ err, data_dir: dataDir }, `lost the data_dir lock (not refreshed in time, or removed): another daemon may own ${dataDir} now; exiting at once without saving (${LOCK_LOST_EXIT_CODE})`);
        process.stderr.write(`driftlock: lost the lock of data_dir ${dataDir}; exiting at once without saving, so as not to write over the daemon that may own it now\n`);
        process.exit(LOCK_LOST_EXIT_CODE);
      },
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOCKED') throw new DataDirInUse(dataDir);
    throw err;
  }
}
