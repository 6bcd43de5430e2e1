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

export class Discovery {
  private watcher: FSWatcher | undefined;
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
    await this.watcher?.close();
    this.watcher = undefined;
  }
}
