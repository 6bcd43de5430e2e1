/**
 * The child processes of the tests (the CLI, rsyslogd, logger, `script`...): each is killed when the test
 * that started it ends, passed, failed or timed out, if it is still running. Without this, an assertion
 * that failed before a test's own kill left its daemon running, orphaned, holding its ports and data_dir
 * lock (and writing on) until someone killed it by hand.
 *
 * spawnForTest starts the child `detached`: it leads a process group (and session) of its own, and that
 * group is killed whole, with every process under the child (`script` puts its command in a session of its
 * own). Out of the test run's process group, a child no longer gets the Ctrl-C given to the run, so the
 * signals that stop a test worker kill the children it still has before it dies of them.
 */
import { execFile, spawn, type ChildProcess, type ExecFileOptions, type SpawnOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { onTestFinished } from 'vitest';

const REGISTRY = Symbol.for('driftlock.test.children');
const registry = globalThis as { [REGISTRY]?: Set<ChildProcess> };

/** The children still running, in this worker (one set, however many times this module is loaded). */
const running: Set<ChildProcess> = (registry[REGISTRY] ??= forwardFatalSignals(new Set()));

function forwardFatalSignals(children: Set<ChildProcess>): Set<ChildProcess> {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      for (const child of children) killAll(child);
      // Once handled, the signal's default action is back: die of it, as without this handler.
      process.kill(process.pid, signal);
    });
  }
  return children;
}

/** child_process.spawn, the child killed (its process group and all under it) when the current test ends. */
export const spawnForTest = ((command: string, args?: readonly string[] | SpawnOptions, options?: SpawnOptions) => {
  const [argv, opts] = Array.isArray(args) ? [args, options ?? {}] : [[], (args as SpawnOptions | undefined) ?? {}];
  return killWhenTestEnds(spawn(command, argv, { ...opts, detached: true }));
}) as typeof spawn;

/** promisify(execFile) (rejects with the error, stdout and stderr on a failed exit), the child killed when the current test ends. */
export function execFileForTest(file: string, args: readonly string[], options: ExecFileOptions = {}): Promise<{ stdout: string; stderr: string }> {
  const run = promisify(execFile)(file, args, { ...options, encoding: 'utf8' });
  killWhenTestEnds(run.child);
  return run;
}

/**
 * Kills `child` (SIGKILL) when the current test ends if it is still running, and waits for its exit. A child
 * spawned `detached` loses its process group with it; any child loses the processes under it.
 */
export function killWhenTestEnds<T extends ChildProcess>(child: T): T {
  if (child.pid === undefined) return child; // it did not start: its 'error' event says why
  running.add(child);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      running.delete(child);
      resolve();
    });
  });
  onTestFinished(async () => {
    // Once it has exited its pid may be another process's: leave it alone.
    if (!running.has(child)) return;
    killAll(child);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 5_000)))]);
    clearTimeout(timer);
  });
  return child;
}

/** SIGKILL to a running child, its process group (if it leads one) and every process under them. */
function killAll(child: ChildProcess): void {
  const pid = child.pid!;
  const pids = processesUnder(pid);
  signal(-pid);
  for (const p of pids) signal(p);
}

function signal(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already (ESRCH), or no such process group: a child that is not detached
  }
}

/**
 * The child, the members of its process group, and recursively the processes under any of them, read from
 * /proc before anything is killed (a process killed first would leave its own children to init). Where
 * there is no /proc, the child alone: its group is still signalled.
 */
function processesUnder(leader: number): number[] {
  const table: Array<{ pid: number; ppid: number; pgid: number }> = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [leader];
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so read from the last ')'.
    const [, ppid, pgid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    table.push({ pid: Number(name), ppid: Number(ppid), pgid: Number(pgid) });
  }
  const found = new Set([leader]);
  for (const p of table) if (p.pgid === leader) found.add(p.pid);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of table) {
      if (!found.has(p.pid) && found.has(p.ppid)) {
        found.add(p.pid);
        grew = true;
      }
    }
  }
  return [...found];
}
