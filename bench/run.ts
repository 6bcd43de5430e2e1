/**
 * `npm run bench`: throughput and memory of whole pipelines, measured on the real CLI binary.
 * Each case pipes a generated file into `driftlock run` (pinned to one CPU core with taskset when it is
 * available) and reports lines/s, MiB/s of input and the peak resident set size (VmHWM) of the daemon.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AccessLogGenerator } from '../src/inputs/demo.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'dist/src/cli/main.js');
const LINES = Number(process.env.BENCH_LINES ?? 1_000_000);

interface Row {
  name: string;
  lines: number;
  seconds: number;
  inputMiB: number;
  peakRssMiB: number;
}

async function generateNginxJson(file: string, lines: number): Promise<void> {
  const gen = new AccessLogGenerator(7);
  const out = createWriteStream(file);
  const start = Date.parse('2025-01-01T00:00:00Z');
  let chunk = '';
  for (let i = 0; i < lines; i++) {
    chunk += gen.line(start + i * 10, 'nginx_json') + '\n';
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
      chunk = '';
    }
  }
  out.end(chunk);
  await new Promise<void>((r) => out.on('finish', () => r()));
}

function peakRss(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

const haveTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

async function runCase(name: string, config: string, inputFile: string, lines: number, dir: string): Promise<Row> {
  const cfgFile = path.join(dir, `${name.replace(/\W+/g, '_')}.yaml`);
  await writeFile(cfgFile, config);
  const args = [CLI, 'run', '-c', cfgFile, '--log-level', 'warn'];
  const cmd = haveTaskset ? 'taskset' : process.execPath;
  const cmdArgs = haveTaskset ? ['-c', '0', process.execPath, ...args] : args;
  const started = process.hrtime.bigint();
  const child = spawn(cmd, cmdArgs, { stdio: [openSync(inputFile, 'r'), 'ignore', 'inherit'] });
  let peak = 0;
  const poll = setInterval(() => (peak = Math.max(peak, peakRss(child.pid!))), 20);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearInterval(poll);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (code !== 0) throw new Error(`${name}: driftlock exited with ${code}`);
  return { name, lines, seconds, inputMiB: statSync(inputFile).size / 2 ** 20, peakRssMiB: peak / 2 ** 20 };
}

function printTable(rows: Row[]): void {
  const header = ['pipeline', 'lines', 'seconds', 'lines/s', 'MiB/s', 'peak RSS MiB'];
  const body = rows.map((r) => [
    r.name,
    r.lines.toLocaleString('en-US'),
    r.seconds.toFixed(2),
    Math.round(r.lines / r.seconds).toLocaleString('en-US'),
    (r.inputMiB / r.seconds).toFixed(1),
    r.peakRssMiB.toFixed(0),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|')}|`);
  for (const b of body) console.log(line(b));
}

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error('run "npm run build" first');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'driftlock-bench-'));
  try {
    const input = path.join(dir, 'nginx.jsonl');
    await generateNginxJson(input, LINES);
    console.log(`driftlock bench: ${LINES.toLocaleString('en-US')} nginx JSON lines (${(statSync(input).size / 2 ** 20).toFixed(0)} MiB), node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'}, ${haveTaskset ? 'pinned to one core (taskset -c 0)' : 'not pinned (no taskset)'}`);
    console.log('time includes start-up and the final flush; the input is read from a file through stdin\n');
    const rows: Row[] = [];
    rows.push(await runCase('stdin -> file', `data_dir: ${dir}/data
inputs: { in: { type: stdin } }
outputs: { out: { type: file, inputs: [in], path: ${dir}/out-pass.jsonl, encoding: text } }
`, input, LINES, dir));
    rows.push(await runCase('stdin -> parse(json) -> file', `data_dir: ${dir}/data
inputs: { in: { type: stdin } }
transforms: { parse_json: { type: parse, inputs: [in], format: json } }
outputs: { out: { type: file, inputs: [parse_json], path: ${dir}/out-json.jsonl } }
`, input, LINES, dir));
    printTable(rows);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
