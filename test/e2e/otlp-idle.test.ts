import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it, vi } from 'vitest';
import { listeningPort, startCli } from '../helpers/cli.js';
import { RawOtlpClient, simpleRequest } from '../helpers/otlp-client.js';
import { tempDir } from '../helpers/temp.js';

/** Opens a TCP connection, writes `bytes` (maybe none), and resolves with the ms until the server closed it, or 'open'. */
function closedWithin(port: number, bytes: Buffer, ms: number): Promise<number | 'open'> {
  return new Promise((resolve) => {
    const started = Date.now();
    const s = net.connect(port, '127.0.0.1', () => {
      if (bytes.length) s.write(bytes);
    });
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    const timer = setTimeout(() => {
      s.destroy();
      resolve('open');
    }, ms);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

describe('otlp_grpc: idle connections through the real CLI', () => {
  it('closes connections that stay idle for idle_timeout (silent, or an HTTP/2 preface and nothing more); clients still export', async () => {
    const dir = await tempDir('dl-e2e-otlp-idle-');
    const out = path.join(dir, 'events.jsonl');
    const config = path.join(dir, 'pipeline.yaml');
    await writeFile(config, `data_dir: ${dir}/data
inputs:
  otlp: { type: otlp_grpc, address: 127.0.0.1:0, idle_timeout: 1s }
outputs:
  out: { type: file, inputs: [otlp], path: ${out} }
`);
    const cli = startCli(['run', '-c', config], { stdin: 'ignore' });
    try {
      await cli.waitFor(/OTLP gRPC listening/);
      const port = listeningPort(cli.stderr(), 'otlp');
      const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00', 'latin1');
      // Before, both stayed open for good (measured: 5,000 of them, 5,000 descriptors and ~100 MB).
      const [silent, http2] = await Promise.all([closedWithin(port, Buffer.alloc(0), 8000), closedWithin(port, preface, 8000)]);
      expect(silent).not.toBe('open');
      expect(http2).not.toBe('open');
      const client = new RawOtlpClient(port);
      expect((await client.export(simpleRequest(3))).error).toBeNull();
      // The client's connection is closed when idle too (a GOAWAY: its channel leaves READY); its next export reconnects.
      const channel = client.client.getChannel();
      expect(channel.getConnectivityState(false)).toBe(grpc.connectivityState.READY);
      await vi.waitFor(() => expect(channel.getConnectivityState(false)).not.toBe(grpc.connectivityState.READY), { timeout: 10_000, interval: 20 });
      expect((await client.export(simpleRequest(2))).error).toBeNull();
      client.close();
      cli.child.kill('SIGTERM');
      const exit = await cli.exited;
      expect(exit.code, exit.stderr).toBe(0);
    } finally {
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    }
  });
});
