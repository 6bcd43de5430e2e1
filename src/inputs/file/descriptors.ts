/**
 * The process's limit on open files, and what to say when it is hit. A file input holds a descriptor for each
 * file it reads; past the limit (`ulimit -n`) every open fails with EMFILE (ENFILE: the whole system's limit),
 * files, checkpoint saves, folder walks and the API's accepted connections alike.
 */
import { readFileSync } from 'node:fs';

/** Whether an error is the process (EMFILE) or the system (ENFILE) out of file descriptors. */
export function isDescriptorLimit(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
}

/**
 * The soft limit on open files (`ulimit -n`), from /proc/self/limits (Linux); undefined where it cannot be
 * read, or when it is unlimited. Node raises the soft limit to the hard one as it starts: this is the limit
 * the process really has.
 */
export function openFileLimit(limitsFile = '/proc/self/limits'): number | undefined {
  try {
    const match = /^Max open files\s+(\d+)\s/m.exec(readFileSync(limitsFile, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The default `max_open_files`: half the limit, leaving the other half to the rest of the process (outputs,
 * sockets, the API, checkpoint saves, other inputs); no cap where the limit cannot be read.
 */
export function defaultMaxOpenFiles(limit: number | undefined): number {
  return limit === undefined ? Infinity : Math.max(1, Math.floor(limit / 2));
}

/** The error said when the limit is hit: what happened, how many files are open, the limit, what to do. */
export function descriptorLimitError(err: unknown, doing: string, open: number, limit: number | undefined): Error {
  const code = (err as NodeJS.ErrnoException).code;
  const which = code === 'ENFILE' ? 'the system has too many open files (ENFILE)' : 'too many open files (EMFILE)';
  const limitText = limit === undefined ? 'its limit could not be read' : `the process may have ${limit} open (ulimit -n)`;
  const out = new Error(
    `cannot ${doing}: ${which}; this input holds ${open} files open and ${limitText}. ` +
      'Raise the limit (ulimit -n, LimitNOFILE= in a systemd unit), narrow include, or set max_open_files lower ' +
      '(close_inactive shorter). Meanwhile it holds fewer files open (max_open_files_now), and files not opened wait ' +
      'and are read in turn',
  );
  (out as NodeJS.ErrnoException).code = code;
  return out;
}
