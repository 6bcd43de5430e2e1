/**
 * `npm run bench` cases for the network inputs: a local load generator (in the bench process) sends to the
 * real CLI (pinned to core 0 like the other cases) and the daemon writes every event to a file.
 *
 * - OTLP gRPC -> file: Export requests of 1,000 log records each, pre-encoded, 4 in flight at a time, over one
 *   grpc-js channel. The input answers after the file output wrote the records (`acknowledge: delivered`), so
 *   when the last response arrives every record is written; the time runs from the first request to the last
 *   response.
 * - syslog TCP -> file: RFC 5424 lines over 4 TCP connections, newline-framed; the time runs from the first
 *   byte to the daemon's exit after SIGTERM once the senders closed (it drains what it received first).
 *
 * The daemon's CPU time is taken over the same span, from /proc/<pid>/stat at its start: the daemon's start-up
 * (0.65-0.8 s of CPU on this host) is outside it, as it is outside the seconds.
 */
import type { ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { EXPORT_LOGS_PATH, logsServiceCodec } from '../src/inputs/otlp-grpc/proto.js';
import { countLines, peakRss, processCpu, reapedCpuSince, spawnCli, type Row } from './measure.js';

/** A row of the pipelines table. */
export type NetworkRow = Row;

/** Issue 6: OTLP batches of 1,000 records on one core. */
export const TARGET_OTLP_EVENTS_PER_SECOND = 100_000;



interface Daemon {
  child: ChildProcess;
  port: number;
  peak: () => number;
  /** CPU seconds the daemon used from start-up to exit, once it has exited. */
  cpuToExit: () => number | undefined;
  exited: Promise<number | null>;
}

/** Starts the CLI on a config whose single input listens on port 0; resolves with the port it logged. */
async function startDaemon(cli: string, config: string, taskset: boolean): Promise<Daemon> {
  const args = [cli, 'run', '-c', config, '--log-level', 'info'];
  const cpuToExit = reapedCpuSince();
  const child = spawnCli(args, taskset, 'pipe');
  let peak = 0;
  const poll = setInterval(() => (peak = Math.max(peak, peakRss(child.pid!))), 20);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => {
    clearInterval(poll);
    resolve(code);
  }));
  let stderr = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      for (const line of stderr.split('\n')) {
        if (line.startsWith('{') && line.includes('listening')) {
          const p = (JSON.parse(line) as { port?: number }).port;
          if (typeof p === 'number') resolve(p);
        }
      }
    });
    void exited.then((code) => reject(new Error(`driftlock exited with ${code} before listening: ${stderr.slice(-2000)}`)));
  });
  child.stderr!.removeAllListeners('data');
  child.stderr!.resume();
  return { child, port, peak: () => peak, cpuToExit, exited };
}

const cpuSpent = (atStart: number | undefined, atEnd: number | undefined) => (atStart === undefined || atEnd === undefined ? undefined : atEnd - atStart);

async function stopDaemon(d: Daemon, name: string): Promise<void> {
  d.child.kill('SIGTERM');
  const code = await d.exited;
  if (code !== 0) throw new Error(`${name}: driftlock exited with ${code}`);
}

export async function otlpGrpcCase(cli: string, dir: string, records: number, taskset: boolean): Promise<NetworkRow> {
  const name = 'otlp_grpc -> file';
  const out = path.join(dir, 'out-otlp.jsonl');
  const config = path.join(dir, 'otlp.yaml');
  await writeFile(config, `data_dir: ${dir}/data-otlp
inputs: { in: { type: otlp_grpc, address: 127.0.0.1:0 } }
outputs: { out: { type: file, inputs: [in], path: ${out} } }
`);
  const perRequest = 1000;
  const requests = Math.ceil(records / perRequest);
  const base = BigInt(Date.parse('2025-01-01T00:00:00Z')) * 1_000_000n;
  const codec = logsServiceCodec();
  const payload = Buffer.from(codec.encodeRequest({
    resourceLogs: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }, { key: 'host.name', value: { stringValue: 'web-1' } }] },
      scopeLogs: [{
        scope: { name: 'app', version: '1.0.0' },
        logRecords: Array.from({ length: perRequest }, (_, i) => ({
          timeUnixNano: String(base + BigInt(i) * 1_000_000n),
          severityNumber: i % 50 === 0 ? 17 : 9,
          severityText: i % 50 === 0 ? 'ERROR' : 'INFO',
          body: { stringValue: `GET /api/v1/orders/${1000 + i} 200 ${(i % 97) + 3}ms user=${i % 13}` },
          attributes: [{ key: 'http.route', value: { stringValue: '/api/v1/orders/:id' } }, { key: 'http.status_code', value: { intValue: 200 } }],
          traceId: Buffer.alloc(16, i % 251 + 1),
          spanId: Buffer.alloc(8, i % 251 + 1),
        })),
      }],
    }],
  }));
  const daemon = await startDaemon(cli, config, taskset);
  const client = new grpc.Client(`127.0.0.1:${daemon.port}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': -1 });
  const send = () => new Promise<void>((resolve, reject) => {
    client.makeUnaryRequest<Buffer, Buffer>(EXPORT_LOGS_PATH, (b) => b, (b) => b, payload, (err) => (err ? reject(err) : resolve()));
  });
  const cpuAtStart = processCpu(daemon.child.pid!);
  const started = process.hrtime.bigint();
  let next = 0;
  const worker = async () => {
    while (next < requests) {
      next++;
      for (;;) {
        try {
          await send();
          break;
        } catch (err) {
          // UNAVAILABLE: the pipeline is full; retry like an OTLP client does.
          if ((err as grpc.ServiceError).code !== grpc.status.UNAVAILABLE) throw err;
          await new Promise((r) => setTimeout(r, 5));
        }
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpuAtEnd = processCpu(daemon.child.pid!);
  client.close();
  await stopDaemon(daemon, name);
  return { name, lines: requests * perRequest, seconds, cpuSeconds: cpuSpent(cpuAtStart, cpuAtEnd), inputMiB: (payload.length * requests) / 2 ** 20, peakRssMiB: daemon.peak() / 2 ** 20, outLines: await countLines(out), target: TARGET_OTLP_EVENTS_PER_SECOND };
}

export async function syslogTcpCase(cli: string, dir: string, lines: number, taskset: boolean): Promise<NetworkRow> {
  const name = 'syslog tcp -> file';
  const out = path.join(dir, 'out-syslog.jsonl');
  const config = path.join(dir, 'syslog.yaml');
  await writeFile(config, `data_dir: ${dir}/data-syslog
inputs: { in: { type: syslog, mode: tcp, address: 127.0.0.1:0 } }
outputs: { out: { type: file, inputs: [in], path: ${out} } }
`);
  const connections = 4;
  const perConnection = Math.ceil(lines / connections);
  const daemon = await startDaemon(cli, config, taskset);
  let bytes = 0;
  const cpuAtStart = processCpu(daemon.child.pid!);
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: connections }, (_, c) => new Promise<void>((resolve, reject) => {
    const socket = net.connect(daemon.port, '127.0.0.1');
    socket.on('error', reject);
    socket.on('close', () => resolve());
    let i = 0;
    const write = () => {
      while (i < perConnection) {
        let chunk = '';
        for (let k = 0; k < 500 && i < perConnection; k++, i++) {
          chunk += `<134>1 2025-01-01T00:00:${String(i % 60).padStart(2, '0')}.${String(i % 1000).padStart(3, '0')}Z web-${c} nginx ${1000 + c} - [req@32473 id="${i}"] GET /api/v1/orders/${i % 5000} 200 ${(i % 97) + 3}ms\n`;
        }
        bytes += Buffer.byteLength(chunk);
        if (!socket.write(chunk)) {
          socket.once('drain', write);
          return;
        }
      }
      socket.end();
    };
    socket.on('connect', write);
  })));
  await stopDaemon(daemon, name);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { name, lines: perConnection * connections, seconds, cpuSeconds: cpuSpent(cpuAtStart, daemon.cpuToExit()), inputMiB: bytes / 2 ** 20, peakRssMiB: daemon.peak() / 2 ** 20, outLines: await countLines(out) };
}
