/** A config mistake, located as precisely as the YAML allows. */
export interface ConfigIssue {
  line?: number;
  column?: number;
  /** The component id the mistake is in, if any. */
  component?: string;
  /** Dotted path of the key, e.g. `outputs.alerts.buffer.max_events`. */
  path?: string;
  message: string;
}

export class ConfigError extends Error {
  readonly file: string;
  readonly issues: ConfigIssue[];

  constructor(file: string, issues: ConfigIssue[]) {
    super(formatIssues(file, issues));
    this.name = 'ConfigError';
    this.file = file;
    this.issues = issues;
  }
}

/**
 * A config that does not load, as every command says it on stderr: `driftlock: invalid configuration ...`
 * (before, `run` alone had the prefix; `validate`, `test-alert`, `tap` and `top` began with `invalid
 * configuration`, unlike their other errors and unlike `run`'s). `from`: the environment variable that
 * named the file (DRIFTLOCK_CONFIG), said in the first line: a path no one typed on the command line (a
 * container image's, a unit's) is otherwise a mystery.
 */
export function configErrorText(err: ConfigError, from?: string): string {
  return `driftlock: ${from === undefined ? err.message : formatIssues(err.file, err.issues, from)}\n`;
}

export function formatIssue(file: string, issue: ConfigIssue): string {
  const where = issue.line !== undefined ? `${file}:${issue.line}:${issue.column ?? 1}` : file;
  const what = [issue.component !== undefined ? `component "${issue.component}"` : '', issue.path ? `key ${issue.path}` : '']
    .filter(Boolean)
    .join(', ');
  return `${where}: ${what ? `${what}: ` : ''}${issue.message}`;
}

function formatIssues(file: string, issues: ConfigIssue[], from?: string): string {
  const notes = [issues.length === 1 ? '' : `${issues.length} problems`, from === undefined ? '' : `from ${from}`].filter(Boolean);
  const head = notes.length === 0 ? 'invalid configuration' : `invalid configuration (${notes.join('; ')})`;
  return `${head}\n${issues.map((i) => `  ${formatIssue(file, i)}`).join('\n')}`;
}
