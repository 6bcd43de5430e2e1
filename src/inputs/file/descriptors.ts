/**
 * The process's limit on open files, and what to say when it is hit. A file input holds a descriptor for each
 * file it reads; past the limit (`ulimit -n`) every open fails with EMFILE (ENFILE: the whole system's limit),
 * files, checkpoint saves, folder walks and the API's accepted connections alike. Whether an
 * error is that limit, and the limit itself, are in engine/descriptors.ts.
 */

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
