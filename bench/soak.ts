/**
 * `npm run soak`: runs the built daemon for a while (SOAK_MINUTES, 25 by default) under mixed load and
 * samples its resources every 10 s, to find what grows without bound in a daemon that runs for weeks. Not a
 * test: it prints a table and a verdict, and leaves its folder (logs, samples, heap snapshots) for a look.
 *
 * The pipeline: a file input tailing 3 files (appended to at SOAK_FILE_RATE lines/s in all, rotated every
 * minute, by rename and create or by copytruncate in turn), syslog over TCP (short connections, some cut
 * without a goodbye, some idle) and UDP (a new socket per burst), OTLP gRPC (a new client every few
 * seconds, some calls cancelled) -> parse (json) -> anomaly_detect with `stream_id: {body.svc}` (a few hot
 * streams and a churn of new ids, many more than `max_streams`, so eviction runs all the time) -> a
 * Slack-like receiver and a webhook receiver that are up, down (port closed), 429 or slow in turn, and a
 * file output (renamed away every 5 minutes, as logrotate would). SIGHUP every 3 minutes, alternating
 * between two configs; taps opened and closed now and then (the CLI, a reader that goes away, one that
 * never reads).
 *
 * Each sample: RSS and open fds (/proc), heap used after a full GC, active handles by type and the event
 * loop's delay (from bench/soak-probe.ts, loaded into the daemon with --import: the daemon's code is not
 * touched), and the counters of /metrics. At the end the load stops, the daemon drains and stops, and every
 * line the output file received is checked against what was sent: each numbered event once, none missing
 * (what the transport may lose, UDP and TCP connections cut, is counted apart).
 *
 * Environment: SOAK_MINUTES, SOAK_RELOAD_SECONDS (180), SOAK_FILE_RATE (lines/s, 2400), SOAK_DIR (a folder to use), SOAK_HEAP_SNAPSHOTS=1
 * (a heap snapshot after the warm-up and one at the end, for a diff in Chrome DevTools).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, createReadStream, createWriteStream, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { EXPORT_LOGS_PATH, logsServiceCodec } from '../src/inputs/otlp-grpc/proto.js';
import { tracked, killDaemons } from './measure.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'dist/src/cli/main.js');
const PROBE = path.join(ROOT, 'dist/bench/soak-probe.js');

const MINUTES = Number(process.env.SOAK_MINUTES ?? 25);
const FILE_RATE = Number(process.env.SOAK_FILE_RATE ?? 2400);
const SAMPLE_MS = 10_000;
const ROTATE_MS = 60_000;
const RELOAD_MS = Number(process.env.SOAK_RELOAD_SECONDS ?? 180) * 1000;
const OUTPUT_ROTATE_MS = 300_000;
const HOT_STREAMS = 20;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let running = true;

// ---------------------------------------------------------------------------------------------------------
// What was sent, by source: every event carries {"src", "seq"}, numbered per source from 1.

/** Sources whose every event must arrive (a file, TCP ended gracefully, OTLP answered OK). */
const sent: Record<string, number> = { file0: 0, file1: 0, file2: 0, tcp: 0, tcpcut: 0, udp: 0, otlp: 0 };
/** OTLP seqs by the answer: 1 OK (must arrive), 2 an error or a cancel (may). */
const otlpAnswers: number[] = [];
const otlpErrors = new Map<string, number>();
let syntheticAnomalies = 0;
let churnCounter = 0;

function body(src: string, seq: number): string {
  // Most events go to a few hot streams (warmed up, scored); a fifth to ids that churn (each lives for ~30 of
  // them), many more than max_streams. One in 2,000 is odd: slow, a 503, or a message never seen.
  const hot = Math.random() < 0.8;
  const svc = hot ? `hot-${Math.floor(Math.random() * HOT_STREAMS)}` : `churn-${Math.floor(churnCounter++ / 30) + Math.floor(Math.random() * 10)}`;
  const odd = Math.random() < 1 / 2000;
  if (odd) syntheticAnomalies++;
  const kind = odd ? Math.floor(Math.random() * 3) : -1;
  const status = kind === 1 ? 503 : Math.random() < 0.01 ? 404 : 200;
  const latency = kind === 0 ? 40 + Math.random() * 20 : 0.02 + Math.random() * 0.05;
  const msg = kind === 2 ? `panic: runtime error: index out of range [${Math.floor(Math.random() * 100)}] in worker ${Math.random().toString(36).slice(2, 8)}` : `GET /api/v1/items/${Math.floor(Math.random() * 1000)} ${status}`;
  return JSON.stringify({ src, seq, svc, msg, status, latency: Math.round(latency * 1000) / 1000, user: `u${Math.floor(Math.random() * 50)}` });
}

const next = (src: string) => ++sent[src]!;

function syslogLine(src: string): string {
  return `<14>1 ${new Date().toISOString()} soakhost app${Math.floor(Math.random() * 5)} ${process.pid} - - ${body(src, next(src))}`;
}

// ---------------------------------------------------------------------------------------------------------
// Ports, folders, configs.

function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function freeUdpPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

interface Ports { tcp: number; udp: number; otlp: number; api: number; slack: number; webhook: number }

/** Two configs a reload alternates between: the detector, the outputs and the UDP input differ (rebuilt). */
function config(dir: string, p: Ports, variant: 'a' | 'b'): string {
  const b = variant === 'b';
  return `data_dir: ${dir}/data
shutdown_timeout: 30s
api: { enabled: true, address: 127.0.0.1:${p.api} }
inputs:
  files:
    type: file
    include: [${dir}/logs/*.log]
    start_at: beginning
  syslog_tcp:
    type: syslog
    mode: tcp
    address: 127.0.0.1:${p.tcp}
    idle_timeout: 20s
  syslog_udp:
    type: syslog
    mode: udp
    address: 127.0.0.1:${p.udp}
    receive_buffer_bytes: ${b ? '8MiB' : '4MiB'}
  otlp:
    type: otlp_grpc
    address: 127.0.0.1:${p.otlp}
    idle_timeout: 30s
transforms:
  parsed:
    type: parse
    inputs: [files, syslog_tcp, syslog_udp, otlp]
    format: json
  detect:
    type: anomaly_detect
    inputs: [parsed]
    stream_id: '{body.svc}'
    max_streams: ${b ? 400 : 500}
    profile: ${b ? 'sensitive' : 'balanced'}
    warmup: ${b ? 20 : 50}
    snapshot_interval: ${b ? '45s' : '60s'}
outputs:
  archive:
    type: file
    inputs: [parsed]
    path: ${dir}/out/events.jsonl
  slack:
    type: slack
    inputs: [detect]
    webhook_url: http://127.0.0.1:${p.slack}/services/T0/B0/soak
    min_confidence: 0.9
    group_window: ${b ? '10s' : '30s'}
    request: { timeout: 5s }
    retry: { initial_backoff: 1s, max_backoff: 20s }
  hook:
    type: webhook
    inputs: [detect]
    url: http://127.0.0.1:${p.webhook}/hook
    batch: { max_events: ${b ? 20 : 50}, timeout: 1s }
    request: { timeout: 5s }
    retry: { initial_backoff: 500ms, max_backoff: 10s }
`;
}

// ---------------------------------------------------------------------------------------------------------
// Receivers: up (200), down (the port closed), 429 with Retry-After, slow (2-12 s, past the 5 s timeout at times).

type Phase = 'up' | 'down' | '429' | 'slow';

class FlakyReceiver {
  private server?: http.Server;
  phase: Phase = 'up';
  readonly answered: Record<string, number> = {};
  records = 0;

  constructor(readonly port: number, readonly name: string, private readonly cycle: Array<[Phase, number]>) {}

  async start(): Promise<void> {
    await this.listen();
    void this.run();
  }

  private listen(): Promise<void> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const answer = (status: number, headers: Record<string, string> = {}) => {
          this.answered[status] = (this.answered[status] ?? 0) + 1;
          if (status === 200) {
            const text = Buffer.concat(chunks).toString('utf8');
            this.records += text.startsWith('[') ? (JSON.parse(text) as unknown[]).length : 1;
          }
          if (!res.destroyed) res.writeHead(status, headers).end(status === 200 ? 'ok' : 'no');
        };
        if (this.phase === '429') answer(429, { 'retry-after': String(1 + Math.floor(Math.random() * 3)) });
        else if (this.phase === 'slow') setTimeout(() => answer(200), 2000 + Math.random() * 10_000);
        else answer(200);
      });
    });
    this.server = server;
    return new Promise((resolve) => server.listen(this.port, '127.0.0.1', () => resolve()));
  }

  private async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async run(): Promise<void> {
    for (let i = 0; running; i = (i + 1) % this.cycle.length) {
      const [phase, ms] = this.cycle[i]!;
      if (phase === 'down') await this.down();
      else if (!this.server) await this.listen();
      this.phase = phase;
      const until = Date.now() + ms;
      while (running && Date.now() < until) await sleep(500);
    }
    if (!this.server) await this.listen();
    this.phase = 'up';
  }

  async close(): Promise<void> {
    await this.down();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Load.

/** Appends to 3 files at FILE_RATE lines/s in all; rotates each every minute (rename or copytruncate in turn). */
async function fileWriters(dir: string): Promise<void> {
  const logs = [0, 1, 2].map((i) => path.join(dir, 'logs', `app${i}.log`));
  const fds = logs.map((f) => openSync(f, 'a'));
  let rotations = 0;
  let lastRotation = Date.now();
  const tickMs = 20;
  let owed = 0;
  while (running) {
    const started = Date.now();
    owed += (FILE_RATE * tickMs) / 1000 / logs.length;
    const n = Math.floor(owed);
    owed -= n;
    for (let i = 0; i < logs.length; i++) {
      let chunk = '';
      for (let k = 0; k < n; k++) chunk += body(`file${i}`, next(`file${i}`)) + '\n';
      if (chunk) writeSync(fds[i]!, chunk);
    }
    if (Date.now() - lastRotation >= ROTATE_MS) {
      lastRotation = Date.now();
      for (let i = 0; i < logs.length; i++) {
        const log = logs[i]!;
        if ((rotations + i) % 2 === 0) {
          renameSync(log, `${log}.1`);
          closeSync(fds[i]!);
          fds[i] = openSync(log, 'a');
        } else {
          copyFileSync(log, `${log}.1`);
          truncateSync(log, 0);
        }
      }
      rotations++;
    }
    await sleep(Math.max(0, tickMs - (Date.now() - started)));
  }
  for (const fd of fds) closeSync(fd);
}

/** Short TCP connections: most end gracefully, one in ten is cut (destroyed), one in twenty idles then leaves. */
async function tcpSender(port: number): Promise<void> {
  while (running) {
    const roll = Math.random();
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => {
      socket.once('connect', resolve);
      socket.once('error', () => resolve());
    });
    if (socket.destroyed) {
      await sleep(200);
      continue;
    }
    if (roll < 0.05) {
      await sleep(5000);
      socket.destroy();
      continue;
    }
    const cut = roll < 0.15;
    const bursts = 1 + Math.floor(Math.random() * 5);
    for (let b = 0; b < bursts && running; b++) {
      let chunk = '';
      const n = 5 + Math.floor(Math.random() * 40);
      for (let k = 0; k < n; k++) chunk += syslogLine(cut ? 'tcpcut' : 'tcp') + '\n';
      socket.write(chunk);
      await sleep(100);
    }
    if (cut) socket.destroy();
    else await new Promise<void>((resolve) => socket.end(resolve));
  }
}

/** A new UDP socket for each burst of 20 datagrams, every 100 ms. */
async function udpSender(port: number): Promise<void> {
  while (running) {
    const s = dgram.createSocket('udp4');
    for (let k = 0; k < 20; k++) s.send(syslogLine('udp'), port, '127.0.0.1');
    await sleep(100);
    s.close();
  }
}

/** A new grpc-js client every ~2 s: a few Export calls of 50-150 records, one in 15 cancelled in flight. */
async function otlpSender(port: number): Promise<void> {
  const codec = logsServiceCodec();
  while (running) {
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const calls = 2 + Math.floor(Math.random() * 6);
    for (let c = 0; c < calls && running; c++) {
      const n = 50 + Math.floor(Math.random() * 100);
      const first = sent.otlp! + 1;
      const records = Array.from({ length: n }, () => ({
        timeUnixNano: String(BigInt(Date.now()) * 1_000_000n),
        severityNumber: 9,
        severityText: 'INFO',
        body: { stringValue: body('otlp', next('otlp')) },
      }));
      const bytes = Buffer.from(codec.encodeRequest({ resourceLogs: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'soak' } }] }, scopeLogs: [{ scope: { name: 'soak' }, logRecords: records }] }] }));
      const cancel = Math.random() < 1 / 15;
      const ok = await new Promise<boolean>((resolve) => {
        const call = client.makeUnaryRequest<Buffer, Buffer>(EXPORT_LOGS_PATH, (b) => b, (b) => b, bytes, new grpc.Metadata(), { deadline: Date.now() + 15_000 }, (err) => {
          if (err) otlpErrors.set(grpc.status[err.code] ?? String(err.code), (otlpErrors.get(grpc.status[err.code] ?? String(err.code)) ?? 0) + 1);
          resolve(!err);
        });
        if (cancel) setTimeout(() => call.cancel(), Math.random() * 20);
      });
      for (let s = first; s < first + n; s++) otlpAnswers[s] = ok ? 1 : 2;
      await sleep(100 + Math.random() * 300);
    }
    client.close();
    await sleep(Math.random() * 500);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Taps: the CLI (a limit), a reader that goes away, a reader that never reads.

async function tapper(configFile: string, apiPort: number, counts: Record<string, number>): Promise<void> {
  while (running) {
    await sleep(20_000 + Math.random() * 40_000);
    if (!running) break;
    const kind = Math.floor(Math.random() * 3);
    if (kind === 0) {
      const child = spawn(process.execPath, [CLI, 'tap', '-c', configFile, '-n', '30', 'parsed', 'detect'], { stdio: ['ignore', 'ignore', 'ignore'] });
      const timer = setTimeout(() => child.kill('SIGINT'), 20_000);
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      clearTimeout(timer);
      counts[`cli exit ${code}`] = (counts[`cli exit ${code}`] ?? 0) + 1;
      continue;
    }
    const reads = kind === 1;
    await new Promise<void>((resolve) => {
      const req = http.get(`http://127.0.0.1:${apiPort}/tap?limit=0&components=*`, (res) => {
        counts[`http ${res.statusCode} ${reads ? 'reading' : 'stalled'}`] = (counts[`http ${res.statusCode} ${reads ? 'reading' : 'stalled'}`] ?? 0) + 1;
        if (reads) res.resume();
        else res.pause();
        setTimeout(() => {
          req.destroy();
          resolve();
        }, reads ? 3000 + Math.random() * 5000 : 15_000);
      });
      req.on('error', () => resolve());
    });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Sampling.

async function scrape(apiPort: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  try {
    const res = await fetch(`http://127.0.0.1:${apiPort}/metrics`, { signal: AbortSignal.timeout(5000) });
    for (const line of (await res.text()).split('\n')) {
      const m = /^driftlock_(\w+)(?:\{component_id="([^"]+)"[^}]*\}|\{([^}]*)\})? (\S+)$/.exec(line);
      if (!m) continue;
      // A component's series of one name (anomalies_total by kind) are summed: the total is what is checked.
      const key = m[2] ? `${m[1]}/${m[2]}` : m[3] ? `${m[1]}{${m[3]}}` : m[1]!;
      out.set(key, (out.get(key) ?? 0) + Number(m[4]));
    }
  } catch {
    // reloading, or busy writing a heap snapshot
  }
  return out;
}

function procStatus(pid: number): { rss: number; fds: number; threads: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
    const threads = Number(/Threads:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { rss, fds: readdirSync(`/proc/${pid}/fd`).length, threads };
  } catch {
    return { rss: 0, fds: 0, threads: 0 };
  }
}

function udpRcvbufErrors(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
  const names = lines[0]!.split(/\s+/);
  const values = lines[1]!.split(/\s+/);
  return Number(values[names.indexOf('RcvbufErrors')] ?? 0);
}

interface Sample {
  t: number;
  rss: number;
  fds: number;
  threads: number;
  heapUsed?: number;
  resources?: Record<string, number>;
  lagMaxMs?: number;
  lagP99Ms?: number;
  metrics: Record<string, number>;
}

function lastProbe(file: string): Omit<Sample, 't' | 'rss' | 'fds' | 'threads' | 'metrics'> {
  if (!existsSync(file)) return {};
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  const last = lines[lines.length - 1];
  if (!last) return {};
  const p = JSON.parse(last) as { heapUsed: number; resources: Record<string, number>; lagMaxMs: number; lagP99Ms: number };
  return { heapUsed: p.heapUsed, resources: p.resources, lagMaxMs: p.lagMaxMs, lagP99Ms: p.lagP99Ms };
}

const MiB = (n: number | undefined) => (n === undefined ? '-' : (n / 1048576).toFixed(1));
const sum = (m: Map<string, number>, prefix: string, ids: string[]) => ids.reduce((s, id) => s + (m.get(`${prefix}/${id}`) ?? 0), 0);

// ---------------------------------------------------------------------------------------------------------
// Checking the output.

async function checkOutput(dir: string): Promise<{ lines: number; bySource: Record<string, { sent: number; seen: number; dup: number; missing: number }> }> {
  const seen: Record<string, Uint8Array> = {};
  for (const [src, n] of Object.entries(sent)) seen[src] = new Uint8Array(n + 1);
  let lines = 0;
  const outDir = path.join(dir, 'out');
  for (const name of readdirSync(outDir)) {
    let rest = '';
    for await (const chunk of createReadStream(path.join(outDir, name), { encoding: 'utf8', highWaterMark: 1 << 20 }) as AsyncIterable<string>) {
      const text = rest + chunk;
      let start = 0;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
        const line = text.slice(start, nl);
        start = nl + 1;
        lines++;
        const m = /"src":"(\w+)","seq":(\d+)/.exec(line);
        if (m) {
          const bits = seen[m[1]!];
          const seq = Number(m[2]);
          if (bits && seq < bits.length) bits[seq] = Math.min(255, bits[seq]! + 1);
        }
      }
      rest = text.slice(start);
    }
  }
  const bySource: Record<string, { sent: number; seen: number; dup: number; missing: number }> = {};
  for (const [src, bits] of Object.entries(seen)) {
    let got = 0;
    let dup = 0;
    let missing = 0;
    for (let s = 1; s < bits.length; s++) {
      if (bits[s]! > 0) got++;
      if (bits[s]! > 1) dup += bits[s]! - 1;
      // OTLP: only records of calls answered OK must be there.
      const must = src === 'otlp' ? otlpAnswers[s] === 1 : src.startsWith('file') || src === 'tcp';
      if (must && bits[s] === 0) missing++;
    }
    bySource[src] = { sent: bits.length - 1, seen: got, dup, missing };
  }
  return { lines, bySource };
}

// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (!existsSync(CLI) || !existsSync(PROBE)) throw new Error('build first: npx tsc -p tsconfig.build.json');
  const dir = process.env.SOAK_DIR ?? (await mkdtemp(path.join(os.tmpdir(), 'driftlock-soak-')));
  for (const sub of ['logs', 'out', 'data']) mkdirSync(path.join(dir, sub), { recursive: true });
  const ports: Ports = { tcp: await freeTcpPort(), udp: await freeUdpPort(), otlp: await freeTcpPort(), api: await freeTcpPort(), slack: await freeTcpPort(), webhook: await freeTcpPort() };
  const configFile = path.join(dir, 'soak.yaml');
  writeFileSync(configFile, config(dir, ports, 'a'));
  for (let i = 0; i < 3; i++) writeFileSync(path.join(dir, 'logs', `app${i}.log`), '');
  const slack = new FlakyReceiver(ports.slack, 'slack', [['up', 60_000], ['429', 30_000], ['up', 30_000], ['down', 40_000], ['slow', 40_000]]);
  const webhook = new FlakyReceiver(ports.webhook, 'webhook', [['up', 45_000], ['slow', 30_000], ['down', 25_000], ['up', 30_000], ['429', 20_000]]);
  await slack.start();
  await webhook.start();

  const probeFile = path.join(dir, 'probe.jsonl');
  const daemonLog = createWriteStream(path.join(dir, 'daemon.log'));
  const args = ['--expose-gc', '--import', PROBE, '--heapsnapshot-signal=SIGUSR2', CLI, 'run', '-c', configFile];
  const child: ChildProcess = tracked(spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SOAK_PROBE_FILE: probeFile } }));
  child.stderr!.pipe(daemonLog);
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const pid = child.pid!;
  console.log(`soak: ${MINUTES} min in ${dir}, daemon pid ${pid}, ${FILE_RATE} file lines/s`);
  for (let i = 0; ; i++) {
    if ((await scrape(ports.api)).size > 0) break;
    if (i > 300 || child.exitCode !== null) throw new Error(`the daemon did not start: see ${dir}/daemon.log`);
    await sleep(100);
  }
  const udpErrorsAtStart = udpRcvbufErrors();
  const tapCounts: Record<string, number> = {};
  const load = [fileWriters(dir), tcpSender(ports.tcp), tcpSender(ports.tcp), tcpSender(ports.tcp), udpSender(ports.udp), otlpSender(ports.otlp), otlpSender(ports.otlp), tapper(configFile, ports.api, tapCounts)];

  const started = Date.now();
  const samples: Sample[] = [];
  let reloads = 0;
  let outputRotations = 0;
  let lastReload = started;
  let lastOutputRotation = started;
  const inputs = ['files', 'syslog_tcp', 'syslog_udp', 'otlp'];
  console.log('  min    rss MiB  heap MiB  fds  thr  timers sockets other  lag p99/max ms  streams evicted  in/s    files_open  slack q  hook q  reloads');
  let previousIn = 0;
  let previousT = started;
  while (Date.now() - started < MINUTES * 60_000) {
    await sleep(SAMPLE_MS);
    if (child.exitCode !== null) throw new Error(`the daemon exited with ${child.exitCode}: see ${dir}/daemon.log`);
    if (Date.now() - lastReload >= RELOAD_MS) {
      lastReload = Date.now();
      reloads++;
      writeFileSync(configFile, config(dir, ports, reloads % 2 === 1 ? 'b' : 'a'));
      child.kill('SIGHUP');
    }
    if (Date.now() - lastOutputRotation >= OUTPUT_ROTATE_MS) {
      lastOutputRotation = Date.now();
      outputRotations++;
      renameSync(path.join(dir, 'out', 'events.jsonl'), path.join(dir, 'out', `events.jsonl.${outputRotations}`));
    }
    if (process.env.SOAK_HEAP_SNAPSHOTS === '1' && samples.length === 30) child.kill('SIGUSR2');
    const m = await scrape(ports.api);
    const proc = procStatus(pid);
    const sample: Sample = { t: Date.now() - started, ...proc, ...lastProbe(probeFile), metrics: Object.fromEntries(m) };
    samples.push(sample);
    const r = sample.resources ?? {};
    const timers = r.Timeout ?? 0;
    const sockets = (r.TCPSocketWrap ?? 0) + (r.TCPServerWrap ?? 0) + (r.UDPWrap ?? 0);
    const other = Object.values(r).reduce((a, b) => a + b, 0) - timers - sockets;
    const inTotal = sum(m, 'sent_events_total', inputs);
    const rate = m.size ? Math.round((inTotal - previousIn) / ((Date.now() - previousT) / 1000)) : 0;
    if (m.size) [previousIn, previousT] = [inTotal, Date.now()];
    console.log(`${(sample.t / 60_000).toFixed(1).padStart(5)}  ${MiB(sample.rss).padStart(8)}  ${MiB(sample.heapUsed).padStart(8)}  ${String(sample.fds).padStart(3)}  ${String(sample.threads).padStart(3)}  ${String(timers).padStart(6)} ${String(sockets).padStart(7)} ${String(other).padStart(5)}  ${`${sample.lagP99Ms ?? '-'}/${sample.lagMaxMs ?? '-'}`.padStart(14)}  ${String(m.get('detector_streams/detect') ?? '-').padStart(7)} ${String(m.get('detector_evicted_streams_total/detect') ?? '-').padStart(7)}  ${String(rate).padStart(6)}  ${String(m.get('files_open/files') ?? '-').padStart(10)}  ${String(m.get('queue_records/slack') ?? '-').padStart(7)} ${String(m.get('queue_records/hook') ?? '-').padStart(7)}  ${m.get('config_reloads_total{result="succeeded"}') ?? '-'}/${m.get('config_reloads_total{result="failed"}') ?? '-'}`);
  }

  // The end: the load stops, the receivers come up for good, and the daemon gets the time to read everything.
  console.log('soak: stopping the load; waiting for the pipeline to catch up');
  running = false;
  await Promise.all(load);
  let stable = 0;
  let last = -1;
  for (let i = 0; i < 120 && stable < 3; i++) {
    await sleep(2000);
    const m = await scrape(ports.api);
    const archived = m.get('sent_events_total/archive') ?? -1;
    stable = archived === last ? stable + 1 : 0;
    last = archived;
  }
  if (process.env.SOAK_HEAP_SNAPSHOTS === '1') {
    child.kill('SIGUSR2');
    await sleep(15_000);
  }
  const finalMetrics = await scrape(ports.api);
  const finalProc = procStatus(pid);
  const finalProbe = lastProbe(probeFile);
  child.kill('SIGTERM');
  const code = await exited;
  await slack.close();
  await webhook.close();
  const udpLostInKernel = udpRcvbufErrors() - udpErrorsAtStart;

  // Accounting.
  const out = await checkOutput(dir);
  const inputsSent = sum(finalMetrics, 'sent_events_total', inputs);
  const c = (name: string, id: string) => finalMetrics.get(`${name}/${id}`) ?? 0;
  const drops = (id: string) => c('discarded_events_total', id) + c('rejected_events_total', id) + c('abandoned_events_total', id);
  writeFileSync(path.join(dir, 'samples.json'), JSON.stringify(samples));
  const at = (f: number) => samples[Math.min(samples.length - 1, Math.floor(f * (samples.length - 1)))]!;
  console.log('\nsoak: curves (start = first sample, then 25%, 50%, 75%, last under load, and after the drain):');
  for (const [label, s] of [['start', at(0)], ['25%', at(0.25)], ['50%', at(0.5)], ['75%', at(0.75)], ['end', at(1)]] as const) {
    console.log(`  ${label.padEnd(6)} t=${(s.t / 60_000).toFixed(1)} min  rss ${MiB(s.rss)} MiB  heap ${MiB(s.heapUsed)} MiB  fds ${s.fds}  resources ${JSON.stringify(s.resources ?? {})}`);
  }
  console.log(`  drained       rss ${MiB(finalProc.rss)} MiB  heap ${MiB(finalProbe.heapUsed)} MiB  fds ${finalProc.fds}  resources ${JSON.stringify(finalProbe.resources ?? {})}`);
  console.log(`\nsoak: daemon exit code ${code}; reloads sent ${reloads}; output renamed ${outputRotations} times; taps ${JSON.stringify(tapCounts)}`);
  console.log(`  sent by source ${JSON.stringify(sent)}; synthetic odd events ${syntheticAnomalies}; OTLP errors ${JSON.stringify(Object.fromEntries(otlpErrors))}; UDP datagrams the kernel dropped (RcvbufErrors) ${udpLostInKernel}`);
  console.log(`  inputs sent ${inputsSent} = parse received ${c('received_events_total', 'parsed')}; parse sent ${c('sent_events_total', 'parsed')} + drops ${drops('parsed')}`);
  console.log(`  archive received ${c('received_events_total', 'archive')}, sent ${c('sent_events_total', 'archive')}, drops ${drops('archive')}; lines in the output files ${out.lines}`);
  console.log(`  detect received ${c('received_events_total', 'detect')}, anomalies ${c('anomalies_total', 'detect')}, sent ${c('sent_events_total', 'detect')}; slack received ${c('received_events_total', 'slack')} delivered ${c('delivered_records_total', 'slack')} skipped ${c('skipped_events_total', 'slack')} queue ${c('queue_records', 'slack')}; hook received ${c('received_events_total', 'hook')} delivered ${c('delivered_records_total', 'hook')} queue ${c('queue_records', 'hook')}`);
  console.log(`  receivers: slack ${JSON.stringify(slack.answered)}, webhook ${JSON.stringify(webhook.answered)} (${webhook.records} records in 200s)`);
  let loss = false;
  for (const [src, r] of Object.entries(out.bySource)) {
    console.log(`  ${src.padEnd(7)} sent ${r.sent}, in the output ${r.seen}, duplicates ${r.dup}, missing (of those that must arrive) ${r.missing}`);
    if (r.missing > 0) loss = true;
  }
  const silent = inputsSent !== c('received_events_total', 'parsed') || c('received_events_total', 'parsed') !== c('sent_events_total', 'parsed') + drops('parsed') || c('sent_events_total', 'archive') !== out.lines;
  console.log(`\nsoak: ${loss || silent ? 'LOSS: events missing or counts that do not add up (see above)' : 'no loss: every event that had to arrive is in the output, and the counts add up'}; folder ${dir}`);
}

main().catch((err: unknown) => {
  console.error(err);
  killDaemons();
  process.exit(1);
});
