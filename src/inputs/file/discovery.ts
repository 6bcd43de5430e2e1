/**
 * Finds the files to read: a walk of the include globs at start and every `scan_interval`, and a chokidar
 * watcher in between so that new files, changes and deletions are noticed at once (inotify on Linux; with
 * `use_polling`, chokidar polls instead, for network filesystems where change notifications do not arrive).
 * The periodic walk is the safety net for anything a watcher misses.
 */
import { watch, type FSWatcher } from 'chokidar';
import type { Stats } from 'node:fs';
import { isDescriptorLimit } from '../../engine/descriptors.js';
import type { PathMatcher } from './glob.js';

export interface DiscoveryEvents {
  added(file: string): void;
  changed(file: string): void;
  removed(file: string): void;
  /** The watcher failed (it goes on; the periodic scan finds what it misses). */
  error(err: unknown): void;
}

export interface WatchOptions {
  usePolling: boolean;
  pollIntervalMs: number;
}

/**
 * How soon chokidar may list a folder again after its last listing: once a second at most. chokidar lists a
 * watched folder again (a `readdir`, and an `lstat` of every entry) at every notification from it, to find
 * entries added or removed; and on Linux a folder's notifications include every write to every file in it.
 * Its own throttle ends when a listing ends and lists again at once if a notification came meanwhile, so
 * while one file in the folder was written to, the folder was listed back to back: measured here, one file
 * written 100 times a second took 11% of a core beside no other file and 95% beside 1,000 others (a
 * `/var/log` with its rotated files; a Kubernetes node's `/var/log/containers`). A new file or a deletion is
 * still noticed within this delay in a busy folder, and at once in a quiet one; the files matched are watched
 * on their own as well, so their changes (and rotations) are told at once.
 */
export const FOLDER_RELIST_MS = 1000;

type ReadFolder = (directory: string, initialAdd: boolean, ...rest: unknown[]) => unknown;

/**
 * Makes a chokidar watcher list each folder again at most once per `ms` after a notification; the listing of
 * a folder not listed yet (found after the start), and the walk at the start, are not held back. The last of
 * the notifications held back gets its listing at the end of the delay. Returns what clears the timers.
 *
 * This reaches into chokidar (v5): `NodeFsHandler._handleRead(directory, initialAdd, wh, target, ...)` is
 * what its folder watchers call. Where that is not there (another version), the watcher is left as it is.
 */
function holdFolderListings(watcher: FSWatcher, ms: number): () => void {
  const handler = (watcher as unknown as { _nodeFsHandler?: { _handleRead?: unknown } })._nodeFsHandler;
  if (handler === undefined || typeof handler._handleRead !== 'function') return () => undefined;
  const read = (handler._handleRead as ReadFolder).bind(handler);
  const listed = new Map<string, number>();
  const held = new Map<string, { timer: NodeJS.Timeout; args: Parameters<ReadFolder> }>();
  const list = (key: string, args: Parameters<ReadFolder>): unknown => {
    listed.set(key, performance.now());
    return read(...args);
  };
  handler._handleRead = (...args: Parameters<ReadFolder>): unknown => {
    const [directory, initialAdd, , target] = args;
    if (initialAdd) return read(...args);
    // chokidar's own key: a folder, or a folder watched for one target in it.
    const key = typeof target === 'string' ? `${directory}:${target}` : directory;
    const waiting = held.get(key);
    if (waiting !== undefined) {
      waiting.args = args;
      return undefined;
    }
    const since = performance.now() - (listed.get(key) ?? -Infinity);
    if (since >= ms) return list(key, args);
    const timer = setTimeout(() => {
      const last = held.get(key);
      held.delete(key);
      if (last !== undefined) void Promise.resolve(list(key, last.args)).catch(() => undefined);
    }, ms - since);
    timer.unref();
    held.set(key, { timer, args });
    return undefined;
  };
  return () => {
    for (const { timer } of held.values()) clearTimeout(timer);
    held.clear();
  };
}

export class Discovery {
  private watcher: FSWatcher | undefined;
  /** Clears the timers of folder listings held back (see `holdFolderListings`). */
  private releaseListings: () => void = () => undefined;
  /** Ends the wait of a watcher being started (see `watch`): closed meanwhile, it is never ready. */
  private starting: (() => void) | undefined;

  constructor(private readonly matcher: PathMatcher) {}

  /** The matching files; `onError` hears of folders that could not be listed for want of a descriptor. */
  scan(onError?: (err: unknown, dir: string) => void): Promise<string[]> {
    return this.matcher.scan(onError);
  }

  /**
   * Starts watching the include roots; resolves once the watcher is ready (or closed before). Rejects if it
   * runs out of file descriptors before it is ready (its first walk cannot list a folder): chokidar says so
   * and is never ready. That watcher is closed; start another one later.
   */
  async watch(events: DiscoveryEvents, options: WatchOptions): Promise<void> {
    await this.close();
    const roots = this.matcher.roots();
    const depth = Math.max(...roots.map((r) => r.depth));
    const watcher = watch(roots.map((r) => r.dir), {
      ignoreInitial: true,
      persistent: true,
      usePolling: options.usePolling,
      interval: options.pollIntervalMs,
      binaryInterval: options.pollIntervalMs,
      ...(Number.isFinite(depth) ? { depth } : {}),
      // Folders are watched (matches may appear below them); files only when they match.
      ignored: (file: string, st?: Stats) => st !== undefined && st.isFile() && !this.matcher.matches(file),
    });
    this.watcher = watcher;
    this.releaseListings = holdFolderListings(watcher, FOLDER_RELIST_MS);
    watcher.on('add', (f) => events.added(f));
    watcher.on('change', (f) => events.changed(f));
    watcher.on('unlink', (f) => events.removed(f));
    let ready = false;
    await new Promise<void>((resolve, reject) => {
      this.starting = resolve;
      watcher.once('ready', () => {
        ready = true;
        resolve();
      });
      watcher.on('error', (err) => {
        if (ready || !isDescriptorLimit(err)) return events.error(err);
        ready = true; // its later errors are its own: it is closed
        if (this.watcher === watcher) this.watcher = undefined;
        void watcher.close().catch(() => undefined);
        reject(err as Error);
      });
    }).finally(() => (this.starting = undefined));
  }

  async close(): Promise<void> {
    this.starting?.();
    this.releaseListings();
    await this.watcher?.close();
    this.watcher = undefined;
  }
}
