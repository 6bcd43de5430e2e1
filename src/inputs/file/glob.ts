/**
 * Globs for `include` and `exclude`: `*` and `?` within one path segment, `**` across any number of
 * segments, `[abc]` / `[!abc]` classes and `{a,b}` alternatives. Each pattern is compiled once into a regular
 * expression over absolute paths, plus the folder to watch (the part before the first wildcard) and how deep
 * below it a match can be, so that discovery walks and watches no more than it must.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { isDescriptorLimit } from '../../engine/descriptors.js';

export interface CompiledGlob {
  pattern: string;
  /** Absolute folder holding every match (no wildcard in it). */
  base: string;
  /** Levels of folders below `base` a match may be in (Infinity with `**`). */
  depth: number;
  regex: RegExp;
}

const WILDCARD = /[*?[{]/;

export function compileGlob(pattern: string, cwd = process.cwd()): CompiledGlob {
  const absolute = path.resolve(cwd, pattern).split(path.sep).join('/');
  const segments = absolute.split('/');
  let firstWild = segments.findIndex((s) => WILDCARD.test(s));
  if (firstWild < 0) firstWild = segments.length - 1; // a plain path: watch its folder
  const base = segments.slice(0, firstWild).join('/') || '/';
  const rest = segments.slice(firstWild);
  const depth = rest.includes('**') ? Infinity : rest.length - 1;
  let source = escapeRegex(base === '/' ? '' : base);
  for (let i = 0; i < rest.length; i++) {
    const seg = rest[i]!;
    if (seg === '**') {
      // `a/**/b` matches a/b, a/x/b, a/x/y/b; a trailing `**` matches everything below.
      source += i === rest.length - 1 ? '/.*' : '(?:/[^/]+)*';
    } else {
      source += '/' + segmentToRegex(seg);
    }
  }
  return { pattern, base, depth, regex: new RegExp(`^${source}$`) };
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function segmentToRegex(seg: string): string {
  let out = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const close = seg.indexOf(']', i + 2);
      if (close < 0) {
        out += '\\[';
        continue;
      }
      let body = seg.slice(i + 1, close);
      if (body.startsWith('!')) body = '^' + body.slice(1);
      out += `[${body.replace(/\\/g, '\\\\')}]`;
      i = close;
    } else if (c === '{') {
      const close = seg.indexOf('}', i);
      if (close < 0) {
        out += '\\{';
        continue;
      }
      out += `(?:${seg.slice(i + 1, close).split(',').map((alt) => segmentToRegex(alt)).join('|')})`;
      i = close;
    } else out += escapeRegex(c);
  }
  return out;
}

/**
 * The folders holding the matches of `globs` (their `base`) that are not there, or not folders: a glob
 * under one matches nothing until it is made, which is worth saying as such. One this process may not look
 * into (EACCES) is not said missing: see `unreadableFolders`.
 */
export async function missingFolders(globs: CompiledGlob[]): Promise<string[]> {
  const bases = [...new Set(globs.map((g) => g.base))];
  const there = await Promise.all(bases.map((b) => stat(b).then((s) => s.isDirectory(), (err: NodeJS.ErrnoException) => err.code === 'EACCES')));
  return bases.filter((_, i) => !there[i]);
}

/**
 * The folders holding the matches of `globs` that this process may not list (EACCES: the folder, or one on
 * the way to it), with the error: nothing in them is ever found, until their permissions change.
 */
export async function unreadableFolders(globs: CompiledGlob[]): Promise<Array<{ dir: string; err: NodeJS.ErrnoException }>> {
  const bases = [...new Set(globs.map((g) => g.base))];
  const errors = await Promise.all(bases.map((b) => readdir(b).then(() => undefined, (err: NodeJS.ErrnoException) => (err.code === 'EACCES' ? err : undefined))));
  return bases.flatMap((dir, i) => (errors[i] ? [{ dir, err: errors[i] }] : []));
}

/** Include and exclude globs together: which files the input reads. */
export class PathMatcher {
  readonly include: CompiledGlob[];
  readonly exclude: CompiledGlob[];

  constructor(include: string[], exclude: string[], cwd = process.cwd()) {
    this.include = include.map((p) => compileGlob(p, cwd));
    // `**/debug.log` excludes that name anywhere, not only below the working directory.
    this.exclude = exclude.map((p) => compileGlob(p, p.startsWith('**') ? '/' : cwd));
  }

  matches(file: string): boolean {
    const p = file.split(path.sep).join('/');
    return this.include.some((g) => g.regex.test(p)) && !this.excluded(file);
  }

  /** Whether an `exclude` glob names the file (rotated files are never read when excluded, either). */
  excluded(file: string): boolean {
    const p = file.split(path.sep).join('/');
    return this.exclude.some((g) => g.regex.test(p));
  }

  /** The folders to watch, without ones inside another (with the deepest depth needed below each). */
  roots(): Array<{ dir: string; depth: number }> {
    const byDir = new Map<string, number>();
    for (const g of this.include) byDir.set(g.base, Math.max(byDir.get(g.base) ?? 0, g.depth));
    const dirs = [...byDir.keys()].sort();
    const out: Array<{ dir: string; depth: number }> = [];
    for (const dir of dirs) {
      const parent = out.find((o) => dir.startsWith(o.dir === '/' ? '/' : o.dir + '/'));
      if (parent) {
        const below = dir.split('/').length - parent.dir.split('/').length;
        parent.depth = Math.max(parent.depth, below + byDir.get(dir)!);
      } else out.push({ dir, depth: byDir.get(dir)! });
    }
    return out;
  }

  /**
   * Every regular file (or link to one) that matches, found by walking the roots. Missing folders are
   * skipped; `onError` hears of a folder that could not be listed for want of a file descriptor (EMFILE,
   * ENFILE), which is not the same as an empty one.
   */
  async scan(onError?: (err: unknown, dir: string) => void): Promise<string[]> {
    const found = new Set<string>();
    const walk = async (dir: string, depth: number): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        // Gone, not yet created, or unreadable: the next scan tries again.
        if (isDescriptorLimit(err)) onError?.(err, dir);
        return;
      }
      for (const e of entries) {
        const full = dir === '/' ? `/${e.name}` : `${dir}/${e.name}`;
        if (e.isDirectory()) {
          if (depth > 0) await walk(full, depth - 1);
        } else if (e.isFile()) {
          if (this.matches(full)) found.add(full);
        } else if (e.isSymbolicLink() && this.matches(full)) {
          const st = await stat(full).catch(() => undefined);
          if (st?.isFile()) found.add(full);
        }
      }
    };
    for (const root of this.roots()) await walk(root.dir, root.depth);
    return [...found].sort();
  }
}
