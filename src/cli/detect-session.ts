/**
 * What the command line needs of `stream` and `scan` before one of them runs (the choices of their options,
 * and the state the handler of a reader that goes away reads), apart from `detect.ts`: `main.ts` loads that
 * only for those two commands, so that `driftlock run` starts without it and the text rendering it brings.
 */

export const DETECT_FORMATS = ['auto', 'json', 'nginx', 'logfmt', 'syslog', 'text'] as const;
export const PROFILE_NAMES = ['sensitive', 'balanced', 'strict'] as const;

/**
 * `stream` and `scan` while they run: `readerGone` is aborted when the reader of stdout went away
 * (`driftlock scan ... | head -1`), and the command then ends as on Ctrl-C: it stops reading, saves
 * `--state`, writes its summary to stderr and exits with its usual code.
 */
export const detectSession = { active: false, readerGone: new AbortController() };
