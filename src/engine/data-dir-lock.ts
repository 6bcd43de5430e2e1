/**
 * One daemon per `data_dir`: two daemons on the same folder would read every file twice, overwrite each
 * other's checkpoints and queue files, and deliver everything twice (Vector refuses this too). The lock is
 * proper-lockfile's: a `driftlock.lock` folder in `data_dir` (mkdir is atomic, also on network
 * filesystems) whose mtime the holder refreshes; a lock not refreshed for `STALE_MS` (its daemon was
 * killed) is taken over. A daemon restarted right after a SIGKILL waits for that. A daemon that finds its
 * own lock taken over (it was paused for longer than that) exits at once.
 */
import { constants, rmSync } from 'node:fs';
import { access, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';
import { writeFileAtomic } from '../atomic-write.js';
import { makeFolder, STATE_FOLDER_MODE, whyNoFolder } from '../make-folder.js';
import type { Logger } from 'pino';

export const LOCK_NAME = 'driftlock.lock';
/** Exit code of a daemon that lost its data_dir lock (EX_TEMPFAIL: start it again once the other is gone). */
export const LOCK_LOST_EXIT_CODE = 75;
/**
 * Who holds the lock, written beside it once taken (the lock itself is a folder that proper-lockfile removes
 * with rmdir, so it must stay empty): said to a second daemon. Only said: whether the lock is held is its
 * freshness alone, so a PID reused by another process, or one of another container sharing the folder,
 * changes nothing.
 */
export const OWNER_NAME = 'driftlock.lock.owner';
const STALE_MS = 5_000;
/** How long a start waits for a held lock to go stale, trying every second. */
const WAIT_MS = STALE_MS + 2_000;

interface LockOwner {
  pid: number;
  host: string;
  since: string;
}

export class DataDirInUse extends Error {
  constructor(readonly dataDir: string, owner?: LockOwner) {
    super(`data_dir ${dataDir} is in use by another driftlock${owner ? ` (${describeOwner(owner)})` : ''} (the lock ${path.join(dataDir, LOCK_NAME)} is held and kept fresh); give each daemon its own data_dir`);
    this.name = 'DataDirInUse';
  }
}

/** The start was stopped (SIGTERM) while it waited for a held lock to go stale. */
export class LockWaitStopped extends Error {
  constructor(readonly dataDir: string) {
    super(`stopped while waiting for the lock of data_dir ${dataDir}`);
    this.name = 'LockWaitStopped';
  }
}

function describeOwner(owner: LockOwner): string {
  const here = owner.host === os.hostname();
  let alive = true;
  if (here) {
    try {
      process.kill(owner.pid, 0);
    } catch (err) {
      alive = (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
  return `PID ${owner.pid} on ${here ? 'this host' : `host ${owner.host}`}${alive ? '' : ' (no such process here: another container or PID namespace sharing the folder)'}, running since ${owner.since}`;
}

async function readOwner(dataDir: string): Promise<LockOwner | undefined> {
  try {
    const owner = JSON.parse(await readFile(path.join(dataDir, OWNER_NAME), 'utf8')) as Partial<LockOwner>;
    return typeof owner.pid === 'number' && typeof owner.host === 'string' && typeof owner.since === 'string' ? (owner as LockOwner) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `data_dir` cannot be created or written: says which folder, where the config set it, and why in words
 * before the system's message (a bare `EEXIST: file already exists, mkdir ...` did not say it was data_dir).
 */
export class DataDirUnusable extends Error {
  constructor(readonly dataDir: string, reason: string, cause: Error, setAt?: string) {
    super(`data_dir ${dataDir}${setAt ? ` (${setAt})` : ''} cannot be used: ${reason}: ${cause.message}`, { cause });
    this.name = 'DataDirUnusable';
  }
}

/**
 * Takes the lock of `dataDir` (creating the folder), waiting up to about `STALE_MS` for a stale one.
 * `setAt` says where the config set data_dir, for the error when the folder cannot be used. `signal`
 * aborted (a SIGTERM) ends the wait at once, with `LockWaitStopped`.
 */
export async function lockDataDir(dataDir: string, logger: Logger, setAt?: string, signal?: AbortSignal): Promise<() => Promise<void>> {
  try {
    await makeFolder(dataDir, STATE_FOLDER_MODE);
    // proper-lockfile retries any error for its whole wait (7 s): one that waiting cannot cure (a read-only
    // filesystem, no permission) is found here, at once.
    await access(dataDir, constants.W_OK);
  } catch (err) {
    throw new DataDirUnusable(dataDir, await whyNoFolder(dataDir, err as NodeJS.ErrnoException), err as Error, setAt);
  }
  const lockfilePath = path.join(dataDir, LOCK_NAME);
  // Held: by a running daemon (refused), or by one that was killed (stale soon). Said before the wait.
  if (await lockfile.check(dataDir, { lockfilePath, stale: STALE_MS, realpath: false }).catch(() => false)) {
    const owner = await readOwner(dataDir);
    logger.info({ data_dir: dataDir, ...(owner ? { held_by: owner } : {}) }, `the data_dir lock is held; waiting up to ${WAIT_MS / 1000} s in case its daemon was killed (its lock then goes stale)`);
  }
  const giveUpAt = Date.now() + WAIT_MS;
  for (;;) {
    try {
      const ownerFile = path.join(dataDir, OWNER_NAME);
      // At an exit without the release (a second signal, a fatal error), proper-lockfile removes the lock
      // as the process exits; the owner file goes with it. Not once the lock was lost: it may be another's.
      const removeOwner = () => rmSync(ownerFile, { force: true });
      const release = await takeLock(dataDir, lockfilePath, logger, () => process.off('exit', removeOwner));
      await writeFileAtomic(ownerFile, `${JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString() })}\n`).catch(() => undefined);
      process.on('exit', removeOwner);
      return async () => {
        process.off('exit', removeOwner);
        await rm(ownerFile, { force: true }).catch(() => undefined);
        await release();
      };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Tried every second (proper-lockfile's own retries cannot be cut short by a stop).
      if (code === 'ELOCKED' && Date.now() < giveUpAt) {
        try {
          await sleep(1_000, undefined, signal ? { signal } : {});
        } catch {
          throw new LockWaitStopped(dataDir);
        }
        continue;
      }
      if (code === 'ELOCKED') throw new DataDirInUse(dataDir, await readOwner(dataDir));
      if (typeof code === 'string') throw new DataDirUnusable(dataDir, await whyNoFolder(dataDir, err as NodeJS.ErrnoException), err as Error, setAt);
      throw err;
    }
  }
}

function takeLock(dataDir: string, lockfilePath: string, logger: Logger, lost: () => void): Promise<() => Promise<void>> {
  return lockfile.lock(dataDir, {
    lockfilePath,
    stale: STALE_MS,
    update: STALE_MS / 2,
    retries: 0,
    realpath: false,
    // The lock was not refreshed in time (the process was paused: Ctrl-Z, docker pause, a debugger, a
    // frozen VM) or was removed: another daemon may own the folder now. Going on would write over its
    // checkpoints and queues, and saving anything at shutdown would too; so the daemon exits at once, as
    // after a crash: what it had not delivered is read again or resent (delivery is at-least-once).
    onCompromised: (err) => {
      lost();
      logger.fatal({ err, data_dir: dataDir }, `lost the data_dir lock (not refreshed in time, or removed): another daemon may own ${dataDir} now; exiting at once without saving (${LOCK_LOST_EXIT_CODE})`);
      process.stderr.write(`driftlock: lost the lock of data_dir ${dataDir}; exiting at once without saving, so as not to write over the daemon that may own it now\n`);
      process.exit(LOCK_LOST_EXIT_CODE);
    },
  });
}

