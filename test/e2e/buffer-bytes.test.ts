/**
 * `buffer.max_bytes` on the real daemon: big syslog lines into an output that is held up (a webhook whose
 * receiver never answers). Bounded in events only, its buffer took 10,000 of them whatever their size: a
 * fuzz run's daemon reached 1.34 GB, and one with `--max-old-space-size=192` died out of memory.
 */
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listeningPort, startCli, type RunningCli } from '../helpers/cli.js';
import { hang, startReceiver, type Receiver } from '../helpers/http-receiver.js';
import { freePort, scrape } from '../helpers/metrics.js';
import { tempDir } from '../helpers/temp.js';

const running: RunningCli[] = [];
const receivers: Receiver[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const cli of running.splice(0)) if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
  for (const r of receivers.splice(0)) await r.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('buffer.max_bytes (real daemon)', () => {
  it('a held-up output\'s buffer stops taking big lines at its byte bound, long before max_events, and the sender is held back', async () => {
    const receiver = await startReceiver(hang);
    receivers.push(receiver);
    const dir = await tempDir('dl-e2e-buffer-bytes-');
    const api = await freePort();
    const config = path.join(dir, 'pipeline.yaml');
    await writeFile(config, `data_dir: ${dir}/data
shutdown_timeout: 1s
api: { enabled: true, address: 127.0.0.1:${api} }
inputs:
  sys: { type: syslog, mode: tcp, address: 127.0.0.1:0 }
outputs:
  hook:
    type: webhook
    inputs: [sys]
    url: ${receiver.url}
    queue: { max_bytes: 64KiB }
    request: { timeout: 60s }
    buffer: { max_bytes: 1MiB }
`);
    const cli = startCli(['run', '-c', config], { stdin: 'ignore' });
    running.push(cli);
    await cli.waitFor(/syslog \(tcp\) listening/);
    const port = listeningPort(cli.stderr(), 'sys');

    // 2,000 lines of 20,000 characters (40 MB); the kernel's socket buffers hold a few MB of them at most.
    const LINE_CHARS = 20_000;
    const LINES = 2_000;
    const line = Buffer.from(`<13>1 2026-11-27T00:00:00Z host app - - - ${'x'.repeat(LINE_CHARS)}\n`);
    const socket = net.connect(port, '127.0.0.1');
    sockets.push(socket);
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    let written = 0;
    let waitingSince = 0;
    void (async () => {
      for (let i = 0; i < LINES && !socket.destroyed; i++) {
        written += 1;
        if (!socket.write(line)) {
          waitingSince = Date.now();
          await new Promise<void>((resolve) => {
            const done = () => {
              socket.off('drain', done);
              socket.off('close', done);
              resolve();
            };
            socket.on('drain', done);
            socket.on('close', done);
          });
          waitingSince = 0;
        }
      }
    })();

    // Until the sender has waited for a second, and the input's count stands still over a second.
    let received = -1;
    let m: Map<string, number>;
    for (let tries = 0; ; tries++) {
      await sleep(500);
      m = await scrape(api);
      const now = m.get('received_events_total/sys') ?? 0;
      if (waitingSince > 0 && Date.now() - waitingSince > 1000 && now === received && now > 0) break;
      received = now;
      if (tries > 60) throw new Error(`the sender was never held back: ${written} lines written, ${now} received\n${cli.stderr().slice(-2000)}`);
    }
    const queuedBytes = m.get('buffer_bytes/hook')!;
    const queuedEvents = m.get('buffer_events/hook')!;
    // Full at 1 MiB (a batch is what one read of the socket framed: a few lines), not at 10,000 events.
    expect(queuedBytes).toBeGreaterThan(0.8 * 1024 * 1024);
    expect(queuedBytes).toBeLessThanOrEqual(1024 * 1024);
    expect(queuedEvents).toBeLessThan(60);
    expect(queuedEvents).toBeGreaterThan(40);
    // The estimate is the text of each event and 100 bytes: about a line's length.
    expect(queuedBytes / queuedEvents).toBeGreaterThan(LINE_CHARS);
    expect(queuedBytes / queuedEvents).toBeLessThan(LINE_CHARS + 400);
    // Backpressure reached the input and its client: it stopped reading, and the sender waits.
    expect(received).toBeLessThan(LINES / 2);
    expect(written).toBeLessThan(LINES);
    expect(waitingSince).toBeGreaterThan(0);
  }, 60_000);
});
