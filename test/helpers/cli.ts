/**
 * Runs the real, built CLI binary (`npm run build` first; `npm test` does). Each run is killed when the test
 * that started it ends, if it is still running (see processes.ts).
 */
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { spawnForTest } from './processes.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const CLI = path.join(ROOT, 'dist/src/cli/main.js');

if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does)`);

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunningCli {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<CliResult>;
  /** Resolves when stderr or stdout has matched the pattern. */
  waitFor: (pattern: RegExp, stream?: 'stdout' | 'stderr', timeoutMs?: number) => Promise<void>;
}

/**
 * `stdin`: a pipe (default), nothing, or an open file descriptor (standard input redirected from a file).
 * `openFilesLimit`: run it under `ulimit -n` (through sh, which execs node).
 */
export function startCli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; stdin?: 'pipe' | 'ignore' | number; openFilesLimit?: number } = {}): RunningCli {
  const [command, argv] = options.openFilesLimit === undefined
    ? [process.execPath, [CLI, ...args]]
    : ['sh', ['-c', `ulimit -n ${options.openFilesLimit} && exec "$0" "$@"`, process.execPath, CLI, ...args]];
  const child = spawnForTest(command, argv, {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...options.env },
    stdio: [options.stdin ?? 'pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout: out, stderr: err }));
  });
  const waitFor = (pattern: RegExp, stream: 'stdout' | 'stderr' = 'stderr', timeoutMs = 15_000) =>
    new Promise<void>((resolve, reject) => {
      const started = Date.now();
      const check = () => {
        if (pattern.test(stream === 'stdout' ? out : err)) return resolve();
        if (child.exitCode !== null || Date.now() - started > timeoutMs) {
          return reject(new Error(`timed out waiting for ${pattern} on ${stream}\nstdout: ${out.slice(-2000)}\nstderr: ${err.slice(-2000)}`));
        }
        setTimeout(check, 20);
      };
      check();
    });
  return { child, stdout: () => out, stderr: () => err, exited, waitFor };
}

/** Runs the CLI to its end; `input` is written to its standard input, through a pipe or (`inputFile`) as a file. */
export async function runCli(args: string[], options: { input?: string | Buffer; inputFile?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult> {
  if (options.inputFile !== undefined) {
    // `driftlock ... < file`: the child's standard input is the file itself, not a pipe.
    await writeFile(options.inputFile, options.input ?? '');
    const fd = openSync(options.inputFile, 'r');
    try {
      return await startCli(args, { ...options, stdin: fd }).exited;
    } finally {
      closeSync(fd);
    }
  }
  const running = startCli(args, options);
  if (options.input !== undefined) running.child.stdin!.end(options.input);
  else running.child.stdin!.end();
  return running.exited;
}

/** Parses JSON log lines written by the daemon to stderr. */
export function logLines(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The port a daemon's input `component` listens on, from its log (an address with port 0 picks a free one and logs it). */
export function listeningPort(stderr: string, component: string): number {
  const line = logLines(stderr).find((l) => l.component === component && typeof l.port === 'number');
  if (!line) throw new Error(`no port logged for ${component}`);
  return line.port as number;
}

/** A detector state file (JSON lines: a header, then a stream a line): the header and the streams. */
export async function readDetectorState(file: string): Promise<{ header: Record<string, unknown>; streams: Array<{ id: string; events: number }> }> {
  const [header, ...streams] = (await readFile(file, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { header: header!, streams: streams as Array<{ id: string; events: number }> };
}

/** The components' metrics in the summary the daemon logs as it exits (the line whose message is `msg`). */
export function exitSummary(stderr: string, msg = 'stopped'): Record<string, Record<string, number>> {
  const line = logLines(stderr).find((l) => l.msg === msg);
  if (!line) throw new Error(`no "${msg}" summary in the daemon's log:\n${stderr.slice(-2000)}`);
  return line.components as Record<string, Record<string, number>>;
}
