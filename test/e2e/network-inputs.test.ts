import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { exitSummary, logLines, startCli } from '../helpers/cli.js';
import { ForwardClient } from '../helpers/forward-client.js';
import { freePort, scrape } from '../helpers/metrics.js';
import { RawOtlpClient, simpleRequest } from '../helpers/otlp-client.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';

describe('network inputs through the real CLI', () => {
  it('syslog (tcp), otlp_grpc and fluent_forward on port 0 -> file; the bound ports are logged; SIGTERM drains and exits 0', async () => {
    const dir = await tempDir('dl-e2e-net-');
    const out = path.join(dir, 'events.jsonl');
    const config = path.join(dir, 'pipeline.yaml');
    await writeFile(config, `data_dir: ${dir}/data
inputs:
  sys: { type: syslog, mode: tcp, address: 127.0.0.1:0 }
  otlp: { type: otlp_grpc, address: 127.0.0.1:0 }
  fwd: { type: fluent_forward, address: 127.0.0.1:0 }
outputs:
  out: { type: file, inputs: [sys, otlp, fwd], path: ${out} }
`);
    const cli = startCli(['run', '-c', config], { stdin: 'ignore' });
    try {
      await cli.waitFor(/syslog \(tcp\) listening/);
      await cli.waitFor(/OTLP gRPC listening/);
      await cli.waitFor(/fluent forward listening/);
      const ports = new Map<string, number>();
      for (const l of logLines(cli.stderr())) if (typeof l.port === 'number') ports.set(String(l.component), l.port);
      expect([...ports.keys()].sort()).toEqual(['fwd', 'otlp', 'sys']);

      await new Promise<void>((resolve, reject) => {
        const s = net.connect(ports.get('sys')!, '127.0.0.1', () => s.end('<11>1 2026-01-01T00:00:00Z host app 1 - - disk failure\n'));
        s.on('error', reject);
        s.on('close', () => resolve());
      });
      const otlp = new RawOtlpClient(ports.get('otlp')!);
      const result = await otlp.export(simpleRequest(100, (i) => `otlp ${i}`));
      otlp.close();
      expect(result.error).toBeNull();
      const fwd = await ForwardClient.connect(ports.get('fwd')!);
      fwd.send(['app.web', [[1_700_000_000, { msg: 'forwarded' }]], { chunk: 'e2e-1' }]);
      await fwd.waitForAck('e2e-1');
      await fwd.close();

      // Delivered acknowledgements mean the OTLP and forward events are in the file already.
      const lines = (await readFile(out, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.filter((e) => String(e.body).startsWith('otlp '))).toHaveLength(100);
      expect(lines.some((e) => (e.body as Record<string, unknown>).msg === 'forwarded')).toBe(true);
      cli.child.kill('SIGTERM');
      const exit = await cli.exited;
      expect(exit.code, exit.stderr).toBe(0);
      const all = (await readFile(out, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { body: unknown; attributes: Record<string, unknown>; source: { input: string } });
      const sys = all.find((e) => e.source.input === 'sys');
      expect(sys).toMatchObject({ body: 'disk failure', attributes: { 'syslog.appname': 'app', 'syslog.severity': 3 } });
      expect(all).toHaveLength(102);
    } finally {
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    }
  });

  // A reload that changes the inputs stops them as SIGTERM does (then starts new ones); one that leaves an
  // input unchanged keeps it running (test/e2e/reload-keeps-inputs.test.ts).
  it.each(['SIGTERM', 'SIGHUP'] as const)('%s with the pipeline full: syslog lines already read are delivered (were lost: B 0/20), and a forward chunk taken is acked before its connection closes', async (signal) => {
    const dir = await tempDir('dl-e2e-net-stop-');
    const out = path.join(dir, 'out.txt');
    // A slow output (1 ms per event; 3 s for the flood) behind a small buffer: the pipeline is full while the flood drains.
    await writeFile(path.join(dir, 'slow.mjs'), `import fs from 'node:fs';
export default ({ z, defineOutput, ackBatch }) => [defineOutput({
  type: 'slow_file', description: 'a slow output', config: z.object({ path: z.string() }),
  build: (config) => ({ async consume(batches) {
    for await (const batch of batches) {
      await new Promise((r) => setTimeout(r, batch.events.length));
      fs.appendFileSync(config.path, batch.events.map((e) => (typeof e.body === 'string' ? e.body : JSON.stringify(e.body)) + '\\n').join(''));
      ackBatch(batch);
    }
  } }),
})];
`);
    const config = path.join(dir, 'pipeline.yaml');
    const api = await freePort();
    await writeFile(config, `data_dir: ${dir}/data
shutdown_timeout: 60s
api: { enabled: true, address: "127.0.0.1:${api}" }
plugins: [./slow.mjs]
inputs:
  sys: { type: syslog, mode: tcp, address: 127.0.0.1:0 }
  fwd: { type: fluent_forward, address: 127.0.0.1:0 }
outputs:
  slow: { type: slow_file, inputs: [sys, fwd], path: ${out}, buffer: { max_events: 500 } }
`);
    const cli = startCli(['run', '-c', config], { stdin: 'ignore' });
    const sockets: net.Socket[] = [];
    try {
      await cli.waitFor(/syslog \(tcp\) listening/);
      await cli.waitFor(/fluent forward listening/);
      const ports = new Map<string, number>();
      for (const l of logLines(cli.stderr())) if (typeof l.port === 'number') ports.set(String(l.component), l.port);
      const connect = () => new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect({ port: ports.get('sys')!, host: '127.0.0.1', allowHalfOpen: true }, () => resolve(s));
        s.on('error', reject);
        sockets.push(s);
      });
      const line = (text: string) => `<13>1 - host app - - - ${text}\n`;
      const flood = await connect();
      flood.write(Array.from({ length: 3000 }, (_, i) => line(`flood ${i}`)).join(''));
      const victim = await connect();
      victim.write(Array.from({ length: 20 }, (_, i) => line(`victim A${i}`)).join(''));
      // For A to be read and handed on (its connection then waits for the full pipeline) before B comes:
      // nothing tells one connection's lines from the flood's (received_events_total counts both).
      await new Promise((r) => setTimeout(r, 500));
      victim.write(Array.from({ length: 20 }, (_, i) => line(`victim B${i}`)).join(''));
      const fwd = await ForwardClient.connect(ports.get('fwd')!);
      fwd.send(['app.web', [[1_700_000_000, { msg: 'forwarded at the stop' }]], { chunk: 'stop-1' }]);
      // The chunk taken (counted as it is handed on): sent after B, it was read after B.
      await until(async () => ((await scrape(api)).get('received_events_total/fwd') ?? 0) >= 1, 'the forward chunk taken (received_events_total/fwd 1)', { detail: () => cli.stderr().slice(-3000) });
      // Both inputs change (max_connections), so that the reload stops them.
      if (signal === 'SIGHUP') await writeFile(config, (await readFile(config, 'utf8')).replaceAll('address: 127.0.0.1:0', 'address: 127.0.0.1:0, max_connections: 999'));
      cli.child.kill(signal);
      if (signal === 'SIGHUP') {
        await cli.waitFor(/config reloaded: the new pipeline is running/);
        cli.child.kill('SIGTERM');
      }
      const exit = await cli.exited;
      expect(exit.code, exit.stderr).toBe(0);
      const bodies = (await readFile(out, 'utf8')).split('\n').filter(Boolean);
      expect(bodies.filter((b) => b.startsWith('victim A'))).toHaveLength(20);
      expect(bodies.filter((b) => b.startsWith('victim B'))).toHaveLength(20);
      expect(bodies.filter((b) => b.startsWith('flood '))).toHaveLength(3000);
      expect(bodies).toContain(JSON.stringify({ msg: 'forwarded at the stop' }));
      // Delivered, and acked before the connection closed: Fluent Bit does not send it again.
      expect(fwd.acks).toEqual(['stop-1']);
      const summary = exitSummary(exit.stderr);
      expect(summary.sys!.received_events_total).toBe(3040);
      expect(logLines(exit.stderr).find((l) => l.msg === 'stopped')).toMatchObject({ drained: true });
      if (signal === 'SIGHUP') expect(logLines(exit.stderr).find((l) => l.msg === 'config reloaded: the new pipeline is running')).toMatchObject({ drained: true });
      if (signal === 'SIGHUP') expect(logLines(exit.stderr).find((l) => l.msg === 'SIGHUP: reloading the config: draining the running pipeline')).toMatchObject({ kept_running: [] });
    } finally {
      for (const s of sockets) s.destroy();
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    }
  });
});
