/**
 * Runs a scanner over one file and reads its verdicts, per the `driftlock scan` contract (issue #3):
 *
 *   <scanner> scan --output json --format <fmt> --profile <profile> FILE
 *
 * prints one JSON object per flagged event on stdout,
 * `{"file", "line" (1-based input line), "kind", "score", "confidence", "why", "field", "template"}`, and exits
 * 0 (nothing flagged), 1 (anomalies found; not an error) or 2 (error). Progress and summary go elsewhere
 * (stderr): stdout lines that are not JSON objects are counted and otherwise ignored.
 *
 * The default scanner is `node dist/src/cli/main.js`; `--scanner <command>` replaces it with any shell
 * command that honours the same arguments and output.
 */
import { spawn } from 'node:child_process';

export interface Flag {
  file: string;
  /** 1-based input line. */
  line: number;
  kind: string;
  score: number;
  confidence: number;
  why: string;
  field: string | null;
  template: string | null;
}

export interface ScanOutput {
  flags: Flag[];
  /** Warm-up length the scanner reported, if any: a stdout object with a numeric `warmup_lines` and no `line`. */
  warmupLines: number | undefined;
  /** stdout lines that were not JSON objects (blank lines excluded). */
  ignoredLines: number;
  /** JSON objects that looked like flags but had no valid `line`. */
  invalidFlags: number;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v));
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : Number.NaN);
const optStr = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** Parses a scanner's stdout. Never throws: odd lines are counted, not fatal. */
export function parseScanOutput(stdout: string): ScanOutput {
  const out: ScanOutput = { flags: [], warmupLines: undefined, ignoredLines: 0, invalidFlags: 0 };
  for (const raw of stdout.split('\n')) {
    const text = raw.trim();
    if (text === '') continue;
    let value: unknown;
    try {
      value = text.startsWith('{') ? JSON.parse(text) : undefined;
    } catch {
      value = undefined;
    }
    if (value === undefined || value === null || typeof value !== 'object' || Array.isArray(value)) {
      out.ignoredLines++;
      continue;
    }
    const o = value as Record<string, unknown>;
    if (!('line' in o)) {
      if (typeof o.warmup_lines === 'number' && o.warmup_lines >= 0) out.warmupLines = o.warmup_lines;
      else out.ignoredLines++;
      continue;
    }
    const line = o.line;
    if (typeof line !== 'number' || !Number.isInteger(line) || line < 1) {
      out.invalidFlags++;
      continue;
    }
    out.flags.push({
      file: str(o.file),
      line,
      kind: str(o.kind),
      score: num(o.score),
      confidence: num(o.confidence),
      why: str(o.why),
      field: optStr(o.field),
      template: optStr(o.template),
    });
  }
  return out;
}

export interface ScanRequest {
  /** Shell command that stands for `driftlock` (arguments are appended, safely quoted). */
  scanner: string;
  /** Working directory of the scanner (the project root). */
  cwd: string;
  file: string;
  format: 'json' | 'nginx' | 'syslog' | 'text';
  profile: string;
  /** Kill the scanner after this long (ms). */
  timeoutMs?: number;
}

export interface ScanResult extends ScanOutput {
  exitCode: number;
  seconds: number;
  /** Last part of stderr, for error reports. */
  stderrTail: string;
  /** The command, for people. */
  command: string;
}

export class ScanError extends Error {
  constructor(
    message: string,
    readonly result: Omit<ScanResult, keyof ScanOutput> | undefined,
  ) {
    super(message);
    this.name = 'ScanError';
  }
}

/** The arguments the harness passes after the scanner command. */
export function scanArgs(req: Pick<ScanRequest, 'file' | 'format' | 'profile'>): string[] {
  return ['scan', '--output', 'json', '--format', req.format, '--profile', req.profile, req.file];
}

const STDERR_TAIL = 4000;

/**
 * Runs the scanner; resolves on exit 0 or 1 with the parsed flags, rejects with a ScanError on any other
 * exit, a signal, or a timeout. The command goes through `/bin/sh -c '<scanner> "$@"'`, so the scanner may
 * be any shell command while the appended arguments (file names) are never re-split.
 */
export function runScan(req: ScanRequest): Promise<ScanResult> {
  const args = scanArgs(req);
  const command = `${req.scanner} ${args.join(' ')}`;
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', `${req.scanner} "$@"`, 'scanner', ...args], {
      cwd: req.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => stdout.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-STDERR_TAIL);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, req.timeoutMs ?? 10 * 60_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new ScanError(`could not start scanner: ${err.message}`, undefined));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const meta = { exitCode: code ?? -1, seconds, stderrTail: stderr.trim(), command };
      if (timedOut) return reject(new ScanError(`scanner timed out after ${seconds.toFixed(0)} s: ${command}`, meta));
      if (signal) return reject(new ScanError(`scanner killed by ${signal}: ${command}`, meta));
      // A failure says what the scanner last wrote on stderr.
      const fail = (what: string) => {
        const hint = stderr.trim().split('\n').slice(-3).join(' | ');
        reject(new ScanError(`${what}: ${command}${hint ? `\n  ${hint}` : ''}`, meta));
      };
      if (code !== 0 && code !== 1) return fail(`scanner exited ${code} (error)`);
      const output = parseScanOutput(Buffer.concat(stdout).toString('utf8'));
      // Exit 1 means "anomalies found", which a scanner says on stdout; exit 1 without a single flag is
      // how node ends on an uncaught error (a scanner that crashed must not read as "no false alarms").
      if (code === 1 && output.flags.length === 0) return fail('scanner exited 1 without a flag on stdout (crashed?)');
      resolve({ ...output, ...meta });
    });
  });
}

/** Distinct flagged lines. */
export function flaggedLines(flags: readonly Flag[]): Set<number> {
  return new Set(flags.map((f) => f.line));
}
