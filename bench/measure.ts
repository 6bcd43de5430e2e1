/** What every pipeline case of `npm run bench` measures, and how. */
import type { ChildProcess } from 'node:child_process';
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
 * Kills (SIGKILL) the daemons still running: the bench failed or was stopped in the middle of a case (a
 * daemon reading a file input, or listening, would otherwise run on, orphaned, once the bench has exited).
 */
export function killDaemons(): void {
  for (const child of daemons) child.kill('SIGKILL');
}
