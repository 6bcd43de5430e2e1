/**
 * One daemon per `data_dir`: two daemons on the same folder would read every file twice, overwrite each
 * other's checkpoints and queue files, and deliver everything twice (Vector refuses this too). The lock is
 * proper-lockfile's: a `driftlock.lock` folder in `data_dir` (mkdir is atomic, also on network
 * filesystems) whose mtime the holder refreshes; a lock not refreshed for `STALE_MS` (its daemon was
 * killed) is taken over. A daemon that finds its own lock taken over (it was paused for longer than that)
 * exits at once.
 *
 * A daemon restarted right after a SIGKILL (an OOM kill, which systemd or the kubelet answers with a restart
 * at once) need not wait for that when the holder is provably dead: the holder listens on a Unix socket in
 * `data_dir` for as long as it holds the lock, and records with the lock the machine's boot id, the lock
 * folder's and the socket's identities. On the same kernel (same boot id: this host, whatever container or
 * PID namespace), a socket that refuses connections has no process left that holds it open: the holder is
 * gone, whatever became of its PID. Not a PID check: a container restarted by the kubelet has a PID
 * namespace of its own, where the dead holder's PID means nothing. What cannot be proved (another host on a
 * shared volume, no /proc, no birth time, an older daemon's lock) waits for the lock to go stale.
 *
 * Taking the lock over is two steps (the dead holder's lock removed, a new one made), and daemons started
 * together after a kill all find the holder dead: so every daemon takes the lock holding a short-lived
 * mutex, `driftlock.lock.takeover` (mkdir again), and finds the holder dead under it. One of them removes
 * the dead lock and makes its own; the others then find a live holder. Before, others could come between
 * the two steps: two could both say they took the lock over (the one whose new lock the other removed exited
 * 75 at its next refresh), or one said so and exited 78 while another, which had made its lock in between
 * without a word, ran.
 */
import { rmdirSync, rmSync, type Stats } from 'node:fs';
import { lstat, mkdir, readFile, rm, rmdir, stat } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';
import { writeFileAtomic } from '../atomic-write.js';
import { STATE_FOLDER_MODE, stateFolder, whyNoFolder } from '../make-folder.js';
import type { Logger } from 'pino';

export const LOCK_NAME = 'driftlock.lock';
/** Exit code of a daemon that lost its data_dir lock (EX_TEMPFAIL: start it again once the other is gone). */
export const LOCK_LOST_EXIT_CODE = 75;
/**
 * Who holds the lock, written beside it once taken (the lock itself is a folder that proper-lockfile removes
 * with rmdir, so it must stay empty): said to a second daemon, and, with its `proof`, what lets a daemon on
 * the same kernel find the holder dead (see `deadHolder`). Not its PID: one reused by another process, or
 * one of another PID namespace sharing the folder, proves nothing either way.
 */
export const OWNER_NAME = 'driftlock.lock.owner';
/** The Unix socket the holder listens on while it holds the lock: one that refuses connections has no holder left. */
export const SOCKET_NAME = 'driftlock.lock.sock';
/**
 * The mutex a daemon holds while it takes the lock (see the top of this file): a folder, made with mkdir and
 * removed once the lock is taken or found held, a few milliseconds later.
 */
export const TAKEOVER_NAME = 'driftlock.lock.takeover';
const STALE_MS = 5_000;
/** How long a start waits for a held lock to go stale, trying every second. */
const WAIT_MS = STALE_MS + 2_000;

interface LockOwner {
  pid: number;
  host: string;
  since: string;
  /**
   * What proves the holder dead, when it is (see `deadHolder`): the kernel's boot id, the lock folder's
   * inode and birth time (so that the record is known to be this lock's, not a previous holder's left
   * behind), and the inode of the socket it listens on. Absent when one could not be had.
   */
  proof?: { boot_id: string; lock: { ino: number; birth_ms: number }; socket_ino: number };
}

/** The folder is in the message, and beside the error as `data_dir` where it is logged: not a field of its own. */
export class DataDirInUse extends Error {
  constructor(dataDir: string, owner?: LockOwner, setAt?: string, answered = false) {
    const held = answered ? `its daemon answers on ${path.join(dataDir, SOCKET_NAME)}` : `the lock ${path.join(dataDir, LOCK_NAME)} is held and kept fresh`;
    super(`data_dir ${dataDir}${setAt ? ` (${setAt})` : ''} is in use by another driftlock${owner ? ` (${describeOwner(owner)})` : ''} (${held}); give each daemon its own data_dir`);
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

/** This kernel's boot id: equal on two processes only when they run on the same kernel (host) since the same boot. */
async function bootId(): Promise<string | undefined> {
  return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim() || undefined;
}

/** A folder's identity: its inode and birth time (0 where the filesystem keeps none). */
function identityOf(st: Stats): { ino: number; birth_ms: number } {
  return { ino: st.ino, birth_ms: st.birthtimeMs };
}

/**
 * The longest path a Unix socket can have: its address holds 108 bytes on Linux, 104 on macOS and the BSDs,
 * the final NUL included. Node (libuv 1.46) does not refuse a longer path: it cuts it there and listens at
 * the path cut short, a socket file outside data_dir (in one of its parent folders) that nothing removes.
 */
const MAX_SOCKET_PATH_BYTES = process.platform === 'linux' ? 107 : 103;

/** What the holder writes to each connection to its socket, from its event loop (see `probe`). */
const ANSWER = 'driftlock\n';

/**
 * Listens on `socketPath` for as long as the lock is held: the kernel accepts a connection to it while this
 * process lives, also paused or with its event loop blocked, and refuses one once the process is gone.
 * Each connection is answered `ANSWER` and closed: only a process whose event loop runs answers (one
 * paused, Ctrl-Z or docker pause, does not: its lock may still be taken over once stale). Undefined when it
 * cannot listen (a path too long for a socket, a filesystem without sockets): a restart after a kill then
 * waits for the lock to go stale.
 */
export async function listenWhileHeld(socketPath: string): Promise<net.Server | undefined> {
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) return undefined;
  // A previous holder's, left by a kill: this one holds the lock now.
  await rm(socketPath, { force: true }).catch(() => undefined);
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined); // the asker gone first
    // Closed once written, whether or not the asker reads: one that never does holds no descriptor here.
    socket.end(ANSWER, () => socket.destroy());
  });
  return new Promise((resolve) => {
    server.once('error', () => resolve(undefined));
    server.listen(socketPath, () => {
      // Once listening, an error is one connection it could not accept (EMFILE, out of file descriptors):
      // nothing to do (the caller sees no refusal, so it still takes this process for alive). Unheard, the
      // second such error was an uncaught exception that ended the daemon.
      server.on('error', () => undefined);
      resolve(server.unref());
    });
  });
}

/**
 * What a connection to the lock socket `socketPath` finds: `refused` (nobody listens on it: no process holds it
 * any more), `answered` (the holder answered `ANSWER` from a running event loop, within a second), or `other`
 * (accepted, and not asked or not answered: paused, blocked, an older driftlock that closes without a word;
 * or another failure). With `hear` false the outcome is known at the connection, without waiting for words.
 */
function probe(socketPath: string, hear: boolean): Promise<'refused' | 'answered' | 'other'> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    let heard = '';
    const done = (result: 'refused' | 'answered' | 'other') => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(1_000, () => done('other'));
    socket.once('connect', () => {
      if (!hear) done('other');
    });
    socket.on('data', (chunk: Buffer) => {
      heard += chunk.toString('latin1');
      if (heard.length >= ANSWER.length) done(heard.startsWith(ANSWER) ? 'answered' : 'other');
    });
    socket.once('end', () => done(heard === ANSWER ? 'answered' : 'other'));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' ? 'refused' : 'other'));
  });
}

/**
 * Why the holder of the lock is dead, or undefined when that cannot be proved: the record is this lock's
 * (the lock folder's inode and birth time), written on this kernel (the boot id), and the socket it names
 * (by inode, still a socket) refuses connections.
 */
async function deadHolder(dataDir: string, lockfilePath: string, owner: LockOwner | undefined): Promise<string | undefined> {
  const proof = owner?.proof;
  if (!proof || proof.lock.birth_ms <= 0 || proof.boot_id !== (await bootId())) return undefined;
  const lock = await stat(lockfilePath).catch(() => undefined);
  if (!lock || lock.ino !== proof.lock.ino || lock.birthtimeMs !== proof.lock.birth_ms) return undefined;
  const socketPath = path.join(dataDir, SOCKET_NAME);
  const socket = await lstat(socketPath).catch(() => undefined);
  if (!socket?.isSocket() || socket.ino !== proof.socket_ino || (await probe(socketPath, false)) !== 'refused') return undefined;
  return `its lock socket ${socketPath} refuses connections on this host: no process holds it any more`;
}

/**
 * `data_dir` cannot be created or written: says which folder, where the config set it, and why in words
 * before the system's message (a bare `EEXIST: file already exists, mkdir ...` did not say it was data_dir).
 */
export class DataDirUnusable extends Error {
  constructor(dataDir: string, reason: string, cause: Error, setAt?: string) {
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
  // proper-lockfile retries any error for its whole wait (7 s): one that waiting cannot cure (a read-only
  // filesystem, no permission) is found here, at once.
  const folder = await stateFolder(dataDir);
  if ('reason' in folder) throw new DataDirUnusable(dataDir, folder.reason, folder.err, setAt);
  const lockfilePath = path.join(dataDir, LOCK_NAME);
  const giveUpAt = Date.now() + WAIT_MS;
  let saidHeld = false;
  for (;;) {
    try {
      const ownerFile = path.join(dataDir, OWNER_NAME);
      const socketPath = path.join(dataDir, SOCKET_NAME);
      // At an exit without the release (a second signal, a fatal error), proper-lockfile removes the lock
      // as the process exits; the owner file and the socket go with it. Not once the lock was lost: they
      // may be another's.
      const removeOwner = () => {
        rmSync(ownerFile, { force: true });
        rmSync(socketPath, { force: true });
      };
      const release = await takeLockAlone(dataDir, lockfilePath, logger, () => process.off('exit', removeOwner));
      const owner: LockOwner = { pid: process.pid, host: os.hostname(), since: new Date().toISOString() };
      const writeOwner = () => writeFileAtomic(ownerFile, `${JSON.stringify(owner)}\n`).catch(() => undefined);
      // Written before the socket answers, and again with the proof, which needs the socket: a daemon refused
      // because the socket answered reads who holds the lock from this record. Before, it could still be the
      // record of the holder killed before (4 daemons started together after a kill: one of the 3 refused
      // named the dead PID, not the one running).
      await writeOwner();
      const alive = await listenWhileHeld(socketPath);
      const [boot, lock, socket] = await Promise.all([bootId(), stat(lockfilePath).catch(() => undefined), alive && lstat(socketPath).catch(() => undefined)]);
      if (boot && lock && socket) {
        owner.proof = { boot_id: boot, lock: identityOf(lock), socket_ino: socket.ino };
        await writeOwner();
      }
      process.on('exit', removeOwner);
      return async () => {
        process.off('exit', removeOwner);
        await rm(ownerFile, { force: true }).catch(() => undefined);
        // Closing it removes the socket file.
        await new Promise<void>((resolve) => (alive ? alive.close(() => resolve()) : resolve()));
        await release();
      };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Held: by a running daemon (refused), or by one that was killed whose death cannot be proved (stale
      // soon). Said once, before the wait.
      if (code === 'ELOCKED' && !saidHeld) {
        saidHeld = true;
        const owner = await readOwner(dataDir);
        // Its daemon runs (it answers on its lock socket): refused now, not after a wait for nothing.
        if ((await probe(path.join(dataDir, SOCKET_NAME), true)) === 'answered') throw new DataDirInUse(dataDir, owner, setAt, true);
        logger.info({ data_dir: dataDir, ...(owner ? { held_by: owner } : {}) }, `the data_dir lock is held; waiting up to ${WAIT_MS / 1000} s in case its daemon was killed (its lock then goes stale)`);
      }
      // Tried every second (proper-lockfile's own retries cannot be cut short by a stop); its holder killed
      // while this one waits is found dead at the next try.
      if (code === 'ELOCKED' && Date.now() < giveUpAt) {
        try {
          await sleep(1_000, undefined, signal ? { signal } : {});
        } catch {
          throw new LockWaitStopped(dataDir);
        }
        continue;
      }
      if (code === 'ELOCKED') throw new DataDirInUse(dataDir, await readOwner(dataDir), setAt);
      if (typeof code === 'string') throw new DataDirUnusable(dataDir, await whyNoFolder(dataDir, err as NodeJS.ErrnoException), err as Error, setAt);
      throw err;
    }
  }
}

function lockedError(message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code: 'ELOCKED' });
}

/**
 * Takes the lock holding the takeover mutex, so that no other daemon removes or makes the lock meanwhile:
 * a holder proved dead (see `deadHolder`) has its lock removed and replaced by this one's, and that is
 * said once it is done. ELOCKED when the lock is held, or another daemon holds the mutex (it is taking the
 * lock now). A mutex older than `STALE_MS` was left by a daemon killed while it held it, and is removed.
 */
async function takeLockAlone(dataDir: string, lockfilePath: string, logger: Logger, lost: () => void): Promise<() => Promise<void>> {
  const mutex = path.join(dataDir, TAKEOVER_NAME);
  if (!(await enterMutex(mutex))) throw lockedError(`another daemon is taking the lock of ${dataDir}`);
  // Left with the process at an exit meanwhile (a second signal): the next start need not wait for it to go stale.
  const leaveAtExit = () => {
    try {
      rmdirSync(mutex);
    } catch {
      // gone already
    }
  };
  process.on('exit', leaveAtExit);
  try {
    try {
      return await takeLock(dataDir, lockfilePath, logger, lost);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
      const owner = await readOwner(dataDir);
      const why = await deadHolder(dataDir, lockfilePath, owner);
      if (!why || !(await rmdir(lockfilePath).then(() => true, () => false))) throw err;
      const release = await takeLock(dataDir, lockfilePath, logger, lost);
      logger.warn({ data_dir: dataDir, held_by: { pid: owner!.pid, host: owner!.host, since: owner!.since } }, `the data_dir lock was held by PID ${owner!.pid}, which is dead (${why}): took the lock over at once, without waiting for it to go stale`);
      return release;
    }
  } finally {
    process.off('exit', leaveAtExit);
    await rmdir(mutex).catch(() => undefined);
  }
}

/** Makes the mutex folder: false when another holds it (made less than `STALE_MS` ago). */
async function enterMutex(mutex: string): Promise<boolean> {
  for (let tries = 0; ; tries++) {
    try {
      await mkdir(mutex, STATE_FOLDER_MODE);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (tries > 0) return false;
    }
    const made = await stat(mutex).catch(() => undefined);
    if (made && Date.now() - made.mtimeMs < STALE_MS) return false;
    await rmdir(mutex).catch(() => undefined);
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

