/**
 * What tailing costs while a file is written to the way applications write logs, a line at a time: one file
 * appended to 100 times a second (a line each), read by the real daemon (file input -> file output), alone in
 * its folder or beside 1,000 other files (a `/var/log` with its rotated files; a Kubernetes node's
 * `/var/log/containers`). The daemon's CPU time (user + system, from /proc) over the writing, as a share of a
 * core. The folder's other files are never written: what they cost is the watcher's, listing the folder.
 * Before the twenty-seventh session, chokidar listed a folder again at every write to any file in it, back to
 * back: 11% of a core alone, 95% beside 1,000 files (see `FOLDER_RELIST_MS` in src/inputs/file/discovery.ts).
 */
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { countLines, processCpu, startRun } from './measure.js';

export interface TailCostResult {
  neighbours: number;
  writesPerSecond: number;
  seconds: number;
  cpuSeconds: number;
  linesOut: number;
  lines: number;
}

export async function tailCost(options: { cli: string; dir: string; neighbours: number; seconds: number; taskset: boolean }): Promise<TailCostResult> {
  const { dir, neighbours, seconds } = options;
  const writesPerSecond = 100;
  const tag = `tail-${neighbours}`;
  const logs = path.join(dir, tag);
  await mkdir(logs, { recursive: true });
  for (let i = 0; i < neighbours; i++) await writeFile(path.join(logs, `access.log.${i + 1}.gz`), 'x');
  const log = path.join(logs, 'access.log');
  await writeFile(log, '');
  const out = path.join(dir, `${tag}.out`);
  const config = path.join(dir, `${tag}.yaml`);
  await writeFile(config, `data_dir: ${dir}/data-${tag}
inputs: { tail: { type: file, include: ['${log}'] } }
outputs: { out: { type: file, inputs: [tail], path: '${out}' } }
`);
  const { child, exited } = startRun(options.cli, config, options.taskset);
  try {
    // Started, and its watcher ready.
    await new Promise((r) => setTimeout(r, 2500));
    const line = `${JSON.stringify({ remote_addr: '203.0.113.7', request: 'GET /api/v1/orders?page=4 HTTP/1.1', status: 200, body_bytes_sent: 1234, http_user_agent: 'Mozilla/5.0 (X11; Linux x86_64)' })}\n`;
    const before = processCpu(child.pid!) ?? NaN;
    const start = performance.now();
    const lines = writesPerSecond * seconds;
    for (let n = 0; n < lines; ) {
      const due = Math.min(lines, Math.floor(((performance.now() - start) / 1000) * writesPerSecond) + 1);
      for (; n < due; n++) await appendFile(log, line);
      await new Promise((r) => setTimeout(r, 1000 / writesPerSecond));
    }
    // The last lines read and written.
    await new Promise((r) => setTimeout(r, 500));
    const cpuSeconds = (processCpu(child.pid!) ?? NaN) - before;
    const elapsed = (performance.now() - start) / 1000;
    return { neighbours, writesPerSecond, seconds: elapsed, cpuSeconds, linesOut: await countLines(out).catch(() => 0), lines };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}
