/**
 * Alert latency (issue 5): from a line written to a file until the webhook receiver has its alert, through
 * the real daemon: file input -> parse(nginx) -> anomaly_detect -> webhook, the receiver a local HTTP server
 * in this process. Lines are appended at a steady rate (every 10 ms a slice); every so often one of them is
 * a probe (response_time ~2000x typical, a unique value) that the detector flags; its latency is the time
 * the receiver got it minus the time just before the write that carried it. Before timing, `warmLines` normal
 * lines are written at once: 20,000 measure a daemon in its steady state; 3,000 (what the bench wrote until
 * the twenty-seventh session) put the detector past its own warm-up of 100 events, but the first half second
 * of the 10,000 lines/s that follow still runs slower code (V8 has not optimized the detector yet, and its
 * structures are still filling): probes written then arrived 200-700 ms late, the rest under 100 ms.
 */
import { appendFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { AccessLogGenerator } from '../src/inputs/demo.js';
import { startRun } from './measure.js';

export interface LatencyResult {
  rate: number;
  /** Normal lines written before timing (see the top of this file). */
  warmLines: number;
  seconds: number;
  lines: number;
  probes: number;
  received: number;
  p50: number;
  p99: number;
  max: number;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

export async function alertLatency(options: { cli: string; dir: string; rate: number; seconds: number; probeEvery: number; warmLines: number; taskset: boolean }): Promise<LatencyResult> {
  const { rate, seconds, probeEvery, dir, warmLines } = options;
  const received = new Map<number, number>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = performance.now();
      try {
        for (const alert of JSON.parse(Buffer.concat(chunks).toString('utf8')) as Array<{ event: { body: { response_time?: number } } }>) {
          const rt = alert.event.body.response_time;
          if (typeof rt === 'number' && rt >= 90) received.set(Math.round((rt - 90) * 1000), at);
        }
      } catch {
        // not ours
      }
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  const tag = `latency-${rate}-${warmLines}`;
  const log = path.join(dir, `${tag}.log`);
  const config = path.join(dir, `${tag}.yaml`);
  const gen = new AccessLogGenerator(11);
  const record = (t: number, probe?: number) => {
    const r = gen.record(t);
    if (probe !== undefined) r.response_time = 90 + probe / 1000;
    return JSON.stringify(r);
  };
  // Warm-up lines, their event times spread at the same rate up to now.
  const t0 = Date.now() - (warmLines / rate) * 1000;
  await writeFile(log, Array.from({ length: warmLines }, (_, i) => record(t0 + (i * 1000) / rate)).join('\n') + '\n');
  await writeFile(config, `data_dir: ${dir}/data-${tag}
inputs: { access: { type: file, include: ['${log}'], start_at: beginning } }
transforms:
  parse_access: { type: parse, inputs: [access], format: nginx }
  detect: { type: anomaly_detect, inputs: [parse_access], stream_id: nginx-logs }
outputs:
  hook: { type: webhook, inputs: [detect], url: 'http://127.0.0.1:${port}/alerts', batch: { max_events: 100, timeout: 0s } }
`);
  const { child, exited } = startRun(options.cli, config, options.taskset);
  try {
    // Let the daemon start and read the warm-up lines.
    await new Promise((r) => setTimeout(r, 3000));
    const written = new Map<number, number>();
    const tickMs = 10;
    const perTick = (rate * tickMs) / 1000;
    const total = Math.round(rate * seconds);
    const start = performance.now();
    let n = 0;
    let probe = 0;
    while (n < total) {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + Math.ceil(perTick));
      if (due > n) {
        const lines: string[] = [];
        const probes: number[] = [];
        for (; n < due; n++) {
          if (n % probeEvery === probeEvery - 1) {
            probes.push(probe);
            lines.push(record(Date.now(), probe++));
          } else lines.push(record(Date.now()));
        }
        const before = performance.now();
        for (const p of probes) written.set(p, before);
        await appendFile(log, lines.join('\n') + '\n');
      }
      await new Promise((r) => setTimeout(r, tickMs));
    }
    // Give the last probes time to arrive.
    const deadline = performance.now() + 5000;
    while (received.size < written.size && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const latencies = [...written].filter(([p]) => received.has(p)).map(([p, at]) => received.get(p)! - at).sort((a, b) => a - b);
    if (process.env.BENCH_LATENCY_DEBUG) console.error([...written].map(([p, at]) => `${p}:${Math.round((received.get(p) ?? NaN) - at)}`).join(" "));
    return { rate, warmLines, seconds, lines: total, probes: written.size, received: latencies.length, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: latencies.at(-1) ?? NaN };
  } finally {
    child.kill('SIGTERM');
    await exited;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
