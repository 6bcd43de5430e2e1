/**
 * Hostile clients against the network inputs of the real daemon: what a fuzz run found (each case once made
 * the daemon exit, lose a valid request, or not count a rejection). The daemon must go on, count what it
 * refused, and serve the next client.
 */
import { readFile, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listeningPort, startCli, type RunningCli } from '../helpers/cli.js';
import { freePort, scrape } from '../helpers/metrics.js';
import { RawOtlpClient, simpleRequest } from '../helpers/otlp-client.js';
import { tempDir } from '../helpers/temp.js';

const running: RunningCli[] = [];

afterEach(() => {
  for (const cli of running.splice(0)) if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
});

/** The daemon with an otlp_grpc input writing to a file, and its API; the ports it listens on. */
async function startDaemon(): Promise<{ cli: RunningCli; otlp: number; api: number; out: string }> {
  const dir = await tempDir('dl-e2e-hostile-');
  const out = path.join(dir, 'events.jsonl');
  const config = path.join(dir, 'pipeline.yaml');
  const api = await freePort();
  await writeFile(config, `data_dir: ${dir}/data
api: { enabled: true, address: 127.0.0.1:${api} }
inputs:
  otlp: { type: otlp_grpc, address: 127.0.0.1:0 }
outputs:
  out: { type: file, inputs: [otlp], path: ${out} }
`);
  const cli = startCli(['run', '-c', config], { stdin: 'ignore' });
  running.push(cli);
  await cli.waitFor(/OTLP gRPC listening/);
  return { cli, otlp: listeningPort(cli.stderr(), 'otlp'), api, out };
}

/** Sends one OTLP record over gRPC and waits for it in the output file. */
async function stillServes(port: number, out: string, text: string): Promise<void> {
  const client = new RawOtlpClient(port);
  try {
    expect((await client.export(simpleRequest(1, () => text))).error).toBeNull();
  } finally {
    client.close();
  }
  expect(await readFile(out, 'utf8')).toContain(text);
}

/** An HTTP/2 session to the port, once connected (or closed: the daemon may refuse it). */
async function h2Session(port: number): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  await new Promise<void>((resolve) => {
    session.once('connect', () => resolve());
    session.once('close', () => resolve());
  });
  return session;
}

describe('network inputs against hostile clients (real daemon)', () => {
  it('OTLP/HTTP over HTTP/2: a stream refused before its body ended, then reset by its client with NO_ERROR, does not stop the daemon', async () => {
    const { cli, otlp, api, out } = await startDaemon();
    // Refused (404: another path; 415: another content type) while the body still comes: the refusal waits
    // for the body's end, which a reset with NO_ERROR (the default of stream.close()) brings while the
    // stream is already closed. Answering it there threw ERR_HTTP2_INVALID_STREAM: the daemon exited 70.
    for (const headers of [{ ':path': '/v1/traces', 'content-type': 'application/x-protobuf' }, { ':path': '/v1/logs', 'content-type': 'text/plain' }]) {
      for (let i = 0; i < 5; i++) {
        const session = await h2Session(otlp);
        expect(cli.child.exitCode, cli.stderr().slice(-2000)).toBeNull();
        const req = session.request({ ':method': 'POST', ...headers });
        req.on('error', () => undefined);
        req.resume();
        req.write(Buffer.alloc(100));
        req.close();
        await new Promise((r) => setTimeout(r, 50));
        session.destroy();
      }
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(cli.child.exitCode, cli.stderr().slice(-2000)).toBeNull();
    await stillServes(otlp, out, 'after the resets');
    expect((await scrape(api)).get('errors_total/otlp')).toBe(10);
  });

  it('gRPC: a call to a method that is not served, reset by its client in the same breath, does not stop the daemon; such calls are counted', async () => {
    const { cli, otlp, api, out } = await startDaemon();
    // grpc-js answers a path it does not serve with UNIMPLEMENTED when the stream's 'stream' event comes,
    // a tick after its HEADERS were read: a RST_STREAM read with them has closed the stream by then, and
    // grpc-js's respond() threw ERR_HTTP2_INVALID_STREAM, uncaught: the daemon exited 70.
    for (let i = 0; i < 10; i++) {
      const session = await h2Session(otlp);
      expect(cli.child.exitCode, cli.stderr().slice(-2000)).toBeNull();
      const req = session.request({ ':method': 'POST', ':path': '/unknown.Service/Method', 'content-type': 'application/grpc', te: 'trailers' });
      req.on('error', () => undefined);
      req.close(i % 2 ? http2.constants.NGHTTP2_CANCEL : http2.constants.NGHTTP2_NO_ERROR);
      await new Promise((r) => setTimeout(r, 50));
      session.destroy();
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(cli.child.exitCode, cli.stderr().slice(-2000)).toBeNull();
    await stillServes(otlp, out, 'after the unserved calls');
    // Counted and logged (grpc-js's UNIMPLEMENTED was neither).
    expect((await scrape(api)).get('errors_total/otlp')).toBe(10);
    expect(cli.stderr()).toContain('"problem":"grpc_unimplemented"');
  });
});
