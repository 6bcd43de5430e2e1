/** What every pipeline case of `npm run bench` measures, and how. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, existsSync, readFileSync } from 'node:fs';

/** One row of the pipelines table. */
/**
 * The CPU core the bench pins its daemons and detector runs to (`taskset -c`): `BENCH_CPU`, 0 by default. A
 * bench pinned from outside (`taskset -c 1 npm run bench`) still pinned its children to core 0.
 */
export const BENCH_CPU = (() => {
  const cpu = process.env.BENCH_CPU ?? '0';
  if (!/^\d+$/.test(cpu)) throw new Error(`BENCH_CPU: expected a core number, got ${JSON.stringify(cpu)}`);
  return cpu;
})();

export interface Row {
  name: string;
  lines: number;
  seconds: number;
  inputMiB: number;
  peakRssMiB: number;
  /** Lines the output file holds at the end (events passed on by the pipeline). */
  outLines: number;
  /** Minimum lines/s this case should reach, if it has a target. */
  target?: number;
  /** Lines/s of every run, slowest first, when the case ran more than once (the row is the median run). */
  runs?: number[];
  /** User + system CPU seconds of the daemon over the same span as `seconds`; absent without /proc. */
  cpuSeconds?: number;
}

/** Units of the CPU times in /proc (USER_HZ, sysconf CLK_TCK): 100 a second on Linux. */
const CLOCK_TICKS = 100;

/**
 * CPU seconds (user + system, all threads) from /proc/<pid>/stat: the process's own, or those of the children
 * it has reaped (the kernel adds a child's to its parent's when the parent reaps it); undefined without /proc.
 */
function statCpu(pid: number | 'self', whose: 'own' | 'reaped children'): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The fields from the 3rd on follow the command name's ')': utime and stime are the 14th and 15th,
    // cutime and cstime the 16th and 17th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const at = whose === 'own' ? 11 : 13;
    return (Number(fields[at]) + Number(fields[at + 1])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** CPU seconds a running process has used so far (exact to a clock tick, 10 ms). */
export const processCpu = (pid: number) => statCpu(pid, 'own');

/**
 * Starts measuring a daemon's CPU time up to its exit; call the function it returns once 'exit' was emitted
 * (Node has reaped the child by then). Exact to a clock tick, where the last poll of /proc/<pid>/stat before
 * the exit missed what ran after it (polls every 20 ms came up to 80 ms apart on this busy host). Counts
 * every child reaped meanwhile, so only one may run at a time (the bench runs its cases in turn).
 */
export function reapedCpuSince(): () => number | undefined {
  const before = statCpu('self', 'reaped children');
  return () => {
    const after = statCpu('self', 'reaped children');
    return before === undefined || after === undefined ? undefined : after - before;
  };
}

/** Peak resident set size of a running process (VmHWM), in bytes; 0 when it cannot be read. */
export function peakRss(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Newlines in a file (0 when it does not exist). */
export async function countLines(file: string): Promise<number> {
  if (!existsSync(file)) return 0;
  let n = 0;
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) n++;
  }
  return n;
}

/** The daemons the bench started and has not seen exit. */
const daemons = new Set<ChildProcess>();

/** Registers a daemon the bench started, for killDaemons. */
export function tracked<T extends ChildProcess>(child: T): T {
  daemons.add(child);
  child.once('exit', () => daemons.delete(child));
  return child;
}

/**
 * Starts the CLI (`node <args>`), pinned to `BENCH_CPU` with taskset when `taskset`, registered for
 * killDaemons; its stdout ignored, its stderr inherited or piped.
 */
export function spawnCli(args: string[], taskset: boolean, stderr: 'inherit' | 'pipe' = 'inherit'): ChildProcess {
  const stdio: ['ignore', 'ignore', 'inherit' | 'pipe'] = ['ignore', 'ignore', stderr];
  return tracked(taskset ? spawn('taskset', ['-c', BENCH_CPU, process.execPath, ...args], { stdio }) : spawn(process.execPath, args, { stdio }));
}

/** `driftlock run -c config` at log level warn, started as spawnCli does, with the promise of its exit code. */
export function startRun(cli: string, config: string, taskset: boolean): { child: ChildProcess; exited: Promise<number | null> } {
  const child = spawnCli([cli, 'run', '-c', config, '--log-level', 'warn'], taskset);
  return { child, exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))) };
}

/**
 * Kills (SIGKILL) the daemons still running: the bench failed or was stopped in the middle of a case (a
 * daemon reading a file input, or listening, would otherwise run on, orphaned, once the bench has exited).
 */
export function killDaemons(): void {
  for (const child of daemons) child.kill('SIGKILL');
}
