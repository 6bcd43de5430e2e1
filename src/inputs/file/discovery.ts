/**
 * Finds the files to read: a walk of the include globs at start and every `scan_interval`, and a chokidar
 * watcher in between so that new files, changes and deletions are noticed at once (inotify on Linux; with
 * `use_polling`, chokidar polls instead, for network filesystems where change notifications do not arrive),
 * with the folders matched symbolic links point into watched beside it (see `LinkTargets`).
 * The periodic walk is the safety net for anything a watcher misses.
 */
import { watch, type FSWatcher } from 'chokidar';
import { watch as watchFolder, type FSWatcher as FolderWatcher, type Stats } from 'node:fs';
import { lstat, readlink, realpath } from 'node:fs/promises';
import path from 'node:path';
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
 * Calls per key, at once when the key has no window open; each call run opens a window of `ms`, and the calls
 * that come within it are gathered into one, the last, run at its end (which opens another). Held calls of a
 * key are dropped by `clear`. What folder listings and a link's changes are held to.
 */
class KeyedThrottle {
  private readonly windows = new Map<string, { timer: NodeJS.Timeout; next: (() => unknown) | undefined }>();

  constructor(private readonly ms: number) {}

  /** What `run` returned if it ran now; undefined if it waits for the end of the key's window. */
  call(key: string, run: () => unknown): unknown {
    const open = this.windows.get(key);
    if (open === undefined) return this.runNow(key, run);
    open.next = run;
    return undefined;
  }

  clear(): void {
    for (const { timer } of this.windows.values()) clearTimeout(timer);
    this.windows.clear();
  }

  private runNow(key: string, run: () => unknown): unknown {
    const timer = setTimeout(() => {
      const next = this.windows.get(key)?.next;
      this.windows.delete(key);
      if (next !== undefined) void Promise.resolve(this.runNow(key, next)).catch(() => undefined);
    }, this.ms);
    timer.unref();
    this.windows.set(key, { timer, next: undefined });
    return run();
  }
}

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
  const listings = new KeyedThrottle(ms);
  handler._handleRead = (...args: Parameters<ReadFolder>): unknown => {
    const [directory, initialAdd, , target] = args;
    if (initialAdd) return read(...args);
    // chokidar's own key: a folder, or a folder watched for one target in it.
    return listings.call(typeof target === 'string' ? `${directory}:${target}` : directory, () => read(...args));
  };
  return () => listings.clear();
}

/** How long the changes of a link's target after one told are gathered into one (see `LinkTargets`). */
const LINK_TELL_MS = 50;

/**
 * Watches the folders that the matched symbolic links point into, and tells a change of a link at every
 * change of its target there (the layout of a Kubernetes node: `/var/log/containers/*.log` are links to
 * `/var/log/pods/<pod>/<container>/0.log`). chokidar watches a matched link as the file it pointed to when
 * it was found (inotify follows the link once), and nothing in the link's own folder changes when that file
 * does. When the link was made to point to another file (the container restarted: `1.log`), or its file
 * renamed and created again (the kubelet's rotation of `0.log`), chokidar went on watching the old file:
 * it looks again only if it hears of the change more than 5 ms after its last look at the link, else it
 * drops it; and a target gone for a moment made it drop the link, with nothing to tell it of the new file.
 * The new file's lines waited for `check_interval`. The changes of a followed link are told from here only,
 * those within `LINK_TELL_MS` of the last one told as one at its end: told by chokidar as well, and at each
 * write, one linked file written 100 times a second took 16-21% of a core instead of 7-9% (now 7-9%). Not
 * used with `use_polling` (a polled link is looked at through the link at each poll).
 */
class LinkTargets {
  /** Each link's target: the folder it is in, and its name there. */
  private readonly targets = new Map<string, { folder: string; name: string }>();
  private readonly folders = new Map<string, { watcher: FolderWatcher; links: Set<string> }>();
  /** A link's changes: told at once, those within `LINK_TELL_MS` after as one at its end (see `tell`). */
  private readonly changes = new KeyedThrottle(LINK_TELL_MS);
  private closed = false;

  constructor(
    private readonly told: (link: string) => void,
    private readonly failed: (err: unknown) => void,
  ) {}

  has(file: string): boolean {
    return this.targets.has(file);
  }

  /**
   * Follows `file` if it is a symbolic link (into another folder if it points elsewhere now), and forgets
   * it if it is gone or not a link. A link whose target is not there is followed into the folder the target
   * would be in: it may be created again (a rotation).
   */
  async follow(file: string): Promise<void> {
    const isLink = await lstat(file).then((st) => st.isSymbolicLink(), () => false);
    const target = isLink ? await linkTarget(file) : undefined;
    if (this.closed) return;
    if (target === undefined) {
      if (!isLink) this.forget(file);
      return;
    }
    const before = this.targets.get(file);
    if (before?.folder === target.folder) {
      before.name = target.name;
      return;
    }
    if (before !== undefined) this.forget(file);
    let entry = this.folders.get(target.folder);
    if (entry === undefined) {
      const folder = target.folder;
      const links = new Set<string>();
      let watcher: FolderWatcher;
      try {
        watcher = watchFolder(folder, { persistent: false }, (event, name) => {
          for (const link of links) {
            // A file made, renamed or deleted there: the link's target may be another file now.
            if (event === 'rename') void this.follow(link);
            if (event === 'rename' || name === null || name === this.targets.get(link)?.name) this.tell(link);
          }
        });
      } catch (err) {
        return this.failed(err);
      }
      watcher.on('error', (err) => {
        this.failed(err);
        if (this.folders.get(folder)?.watcher === watcher) this.unwatch(folder);
      });
      entry = { watcher, links };
      this.folders.set(folder, entry);
    }
    entry.links.add(file);
    this.targets.set(file, target);
  }

  /**
   * Tells a change of `link` at once, and the changes that come within `LINK_TELL_MS` after as one at its
   * end: the input looks at the link at each (a `stat`), and a file is written to many times a second.
   */
  private tell(link: string): void {
    this.changes.call(link, () => this.told(link));
  }

  private forget(file: string): void {
    const folder = this.targets.get(file)?.folder;
    if (folder === undefined) return;
    this.targets.delete(file);
    const entry = this.folders.get(folder);
    entry?.links.delete(file);
    if (entry?.links.size === 0) this.unwatch(folder);
  }

  private unwatch(folder: string): void {
    const entry = this.folders.get(folder);
    if (entry === undefined) return;
    this.folders.delete(folder);
    entry.watcher.close();
    for (const link of entry.links) this.targets.delete(link);
  }

  close(): void {
    this.closed = true;
    for (const folder of [...this.folders.keys()]) this.unwatch(folder);
    this.changes.clear();
  }
}

/** Where a link points: the real folder of its target (of the folder it names, if the target is not there). */
async function linkTarget(link: string): Promise<{ folder: string; name: string } | undefined> {
  try {
    const target = await realpath(link);
    return { folder: path.dirname(target), name: path.basename(target) };
  } catch {
    const named = await readlink(link).catch(() => undefined);
    if (named === undefined) return undefined;
    const target = path.resolve(path.dirname(link), named);
    const folder = await realpath(path.dirname(target)).catch(() => undefined);
    return folder === undefined ? undefined : { folder, name: path.basename(target) };
  }
}

export class Discovery {
  private watcher: FSWatcher | undefined;
  /** Clears the timers of folder listings held back (see `holdFolderListings`). */
  private releaseListings: () => void = () => undefined;
  /** The folders matched links point into, watched beside chokidar (see `LinkTargets`). */
  private links: LinkTargets | undefined;
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
    const links = options.usePolling ? undefined : new LinkTargets((f) => events.changed(f), (err) => events.error(err));
    this.links = links;
    watcher.on('add', (f) => {
      void links?.follow(f);
      events.added(f);
    });
    watcher.on('change', (f) => {
      if (!links?.has(f)) events.changed(f);
    });
    // A followed link itself made again or removed (an event of its folder's watcher, under its name).
    watcher.on('raw', (_event, name, details) => {
      const folder = (details as { watchedPath?: unknown } | undefined)?.watchedPath;
      if (links === undefined || typeof folder !== 'string') return;
      const file = path.join(folder, name);
      if (!links.has(file)) return;
      void links.follow(file);
      events.changed(file);
    });
    watcher.on('unlink', (f) => {
      // chokidar says a link whose target is gone for a moment (a rotation) unlinked too: still followed.
      void links?.follow(f);
      events.removed(f);
    });
    let ready = false;
    await new Promise<void>((resolve, reject) => {
      this.starting = resolve;
      watcher.once('ready', () => {
        ready = true;
        // chokidar tells nothing of the files there at its start (ignoreInitial): the links among them.
        if (links !== undefined) {
          for (const [dir, names] of Object.entries(watcher.getWatched())) {
            for (const name of names) {
              const file = path.join(dir, name);
              if (this.matcher.matches(file)) void links.follow(file);
            }
          }
        }
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
    this.links?.close();
    this.links = undefined;
    await this.watcher?.close();
    this.watcher = undefined;
  }
}
