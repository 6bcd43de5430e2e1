/** Runs the real, built CLI binary (`npm run build` first; `npm test` does). */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

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

export function startCli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; stdin?: 'pipe' | 'ignore' } = {}): RunningCli {
  const child = spawn(process.execPath, [CLI, ...args], {
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

export async function runCli(args: string[], options: { input?: string | Buffer; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult> {
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
