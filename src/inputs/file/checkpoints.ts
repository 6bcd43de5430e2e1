/**
 * Checkpoints: for each file, its identity (device, inode, fingerprint) and the offset just past the last
 * line whose batch every output acknowledged. Saved to `data_dir/<id>/checkpoints.json` atomically (a
 * temporary file, fsync, rename), so that a crash at any moment leaves either the old or the new version.
 */
import { mkdirSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import type { Fingerprint } from './fingerprint.js';
import { writeFileAtomic } from '../../atomic-write.js';
import { STATE_FILE_MODE, STATE_FOLDER_MODE } from '../../make-folder.js';

export interface Checkpoint {
  /** Last path the file was read under (rotated files: the name they had). */
  path: string;
  dev: number;
  ino: number;
  fingerprint: Fingerprint;
  /** Offset just past the last acknowledged line. */
  offset: number;
  /** Last time (epoch ms) the file was seen, to forget files gone for longer than `checkpoint_ttl`. */
  seen: number;
}

interface CheckpointFile {
  version: 1;
  saved_at: number;
  /**
   * Included names not looked at since their file was last found unchanged (closed, waiting, rotated away,
   * or read up to its last change): that file's modification time then. Files created under such a name and
   * rotated away since are not known to the checkpoints, however long before the save (see `unseenSince`).
   */
  unseen_since?: Record<string, number>;
  files: Array<{ path: string; dev: number; ino: number; fp_len: number; fp_hash: string; offset: number; seen: number }>;
}

export function fileKey(dev: number, ino: number): string {
  return `${dev}:${ino}`;
}

export class CheckpointStore {
  readonly file: string;
  private readonly entries = new Map<string, Checkpoint>();
  /**
   * The keys of the checkpoints of each path (see `heldByAnother`). Before, the question was answered by
   * looking through every checkpoint, for each file found at start: 20,000 new files took 50 s to start.
   */
  private readonly keysByPath = new Map<string, Set<string>>();
  private dirty = false;
  private saving: Promise<void> | undefined;
  /** Asked at each save: what goes into `unseen_since`. */
  unseenSince: () => Map<string, number> = () => new Map();

  constructor(dir: string) {
    this.file = path.join(dir, 'checkpoints.json');
  }

  /** Loads the saved checkpoints; a missing file is an empty store, a corrupt one is moved aside (and reported). */
  async load(): Promise<{ corrupt?: string; savedAt?: number; unseenSince?: Map<string, number> }> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw err;
    }
    try {
      const data = JSON.parse(text) as CheckpointFile;
      if (data.version !== 1 || !Array.isArray(data.files)) throw new Error('unknown checkpoint format');
      for (const f of data.files) {
        this.put(fileKey(f.dev, f.ino), {
          path: f.path, dev: f.dev, ino: f.ino, fingerprint: { length: f.fp_len, hash: f.fp_hash }, offset: f.offset, seen: f.seen,
        });
      }
      const unseenSince = new Map(Object.entries(data.unseen_since ?? {}).filter(([, v]) => typeof v === 'number'));
      return { savedAt: data.saved_at, unseenSince };
    } catch {
      const aside = `${this.file}.corrupt-${Date.now()}`;
      await rename(this.file, aside).catch(() => undefined);
      return { corrupt: aside };
    }
  }

  get(key: string): Checkpoint | undefined {
    return this.entries.get(key);
  }

  set(key: string, entry: Checkpoint): void {
    this.put(key, entry);
    this.dirty = true;
  }

  /** The file of checkpoint `key` is read under `file` now. */
  setPath(key: string, file: string): void {
    const entry = this.entries.get(key);
    if (!entry || entry.path === file) return;
    this.unindex(key, entry.path);
    entry.path = file;
    this.index(key, file);
    this.dirty = true;
  }

  delete(key: string): void {
    if (this.remove(key)) this.dirty = true;
  }

  /** Whether a checkpoint other than `key`'s was last read under `file`. */
  heldByAnother(file: string, key: string): boolean {
    for (const k of this.keysByPath.get(file) ?? []) if (k !== key && this.entries.get(k)?.path === file) return true;
    return false;
  }

  private put(key: string, entry: Checkpoint): void {
    const before = this.entries.get(key);
    if (before) this.unindex(key, before.path);
    this.entries.set(key, entry);
    this.index(key, entry.path);
  }

  private remove(key: string): boolean {
    const entry = this.entries.get(key);
    if (!entry) return false;
    this.unindex(key, entry.path);
    return this.entries.delete(key);
  }

  private index(key: string, file: string): void {
    const keys = this.keysByPath.get(file);
    if (keys) keys.add(key);
    else this.keysByPath.set(file, new Set([key]));
  }

  private unindex(key: string, file: string): void {
    const keys = this.keysByPath.get(file);
    if (!keys?.delete(key) || keys.size > 0) return;
    this.keysByPath.delete(file);
  }

  all(): IterableIterator<[string, Checkpoint]> {
    return this.entries.entries();
  }

  get size(): number {
    return this.entries.size;
  }

  /** Call after changing an entry in place. */
  touch(): void {
    this.dirty = true;
  }

  /** Forgets files not seen for longer than ttlMs; returns how many. */
  expire(now: number, ttlMs: number, keep: (key: string) => boolean): number {
    let n = 0;
    for (const [key, e] of this.entries) {
      if (now - e.seen > ttlMs && !keep(key)) {
        this.remove(key);
        n += 1;
      }
    }
    if (n) this.dirty = true;
    return n;
  }

  private serialize(): string {
    const data: CheckpointFile = { version: 1, saved_at: Date.now(), files: [] };
    const unseen = this.unseenSince();
    if (unseen.size > 0) data.unseen_since = Object.fromEntries(unseen);
    for (const e of this.entries.values()) {
      data.files.push({ path: e.path, dev: e.dev, ino: e.ino, fp_len: e.fingerprint.length, fp_hash: e.fingerprint.hash, offset: e.offset, seen: e.seen });
    }
    return JSON.stringify(data);
  }

  /** Writes the checkpoints if anything changed since the last save; one save at a time. */
  async save(force = false): Promise<void> {
    while (this.saving) await this.saving;
    if (!this.dirty && !force) return;
    this.dirty = false;
    const text = this.serialize();
    this.saving = (async () => {
      try {
        await writeFileAtomic(this.file, text, { fsync: true });
      } catch (err) {
        this.dirty = true;
        throw err;
      }
    })();
    try {
      await this.saving;
    } finally {
      this.saving = undefined;
    }
  }

  /** Resolves when no asynchronous save is in flight. */
  async idle(): Promise<void> {
    while (this.saving) await this.saving.catch(() => undefined);
  }

  /**
   * The same, synchronously: for acknowledgements that arrive after the input stopped, when the daemon may
   * exit right after the output's last write. Not while an asynchronous save is in flight (see `idle`): its
   * older text would be renamed over this one.
   */
  saveSync(): void {
    if (!this.dirty) return;
    this.dirty = false;
    mkdirSync(path.dirname(this.file), { recursive: true, mode: STATE_FOLDER_MODE });
    const tmp = `${this.file}.tmp-sync`;
    const fd = openSync(tmp, 'w', STATE_FILE_MODE);
    try {
      writeFileSync(fd, this.serialize());
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }
}
