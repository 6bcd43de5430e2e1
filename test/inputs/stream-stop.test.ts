/**
 * The TCP stream inputs (syslog TCP, fluent_forward) at the stop and when a client resets its connection:
 * every byte Node has already read from a connection is passed on, and fluent_forward acks the chunks it
 * delivers before it closes. Real sockets on 127.0.0.1, the real inputs, a held emit for a full pipeline.
 */
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ForwardClient } from '../helpers/forward-client.js';
import { startForward, startSyslog, watchConnections, type InputHarness } from '../helpers/network-input.js';
import { HAVE_OPENSSL, makeSelfSignedCert } from '../helpers/tls-cert.js';

const running: InputHarness[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(running.splice(0).map((h) => h.stop()));
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** For vi.waitFor: room for a loaded machine, checked often. */
const SOON = { timeout: 10_000, interval: 10 };

/** Resolves when the client is sent FIN: the syslog input does so when its stop begins. */
const finOf = (client: net.Socket) => new Promise<void>((resolve) => client.once('end', () => resolve()));

/**
 * A client connection. With `halfOpen`, it does not close when the server sends FIN (a Node client closes
 * its side then; a plain socket in most languages, or a sender that never reads, does not).
 */
function connect(port: number, halfOpen = false): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: halfOpen }, () => resolve(s));
    s.on('error', reject);
    sockets.push(s);
  });
}

const lines = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `<13>1 - host app - - - victim ${tag}${i}\n`).join('');

/** Whether a connection to `port` is refused (nothing listens there any more). */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(true));
  });
}

/** Bytes the kernel holds unread for the server's end of the connection whose client is `client` (ss Recv-Q). */
async function serverRecvQ(client: net.Socket): Promise<number> {
  // /proc/net/tcp: the server's socket has the client's port as its remote port; rx_queue in hex.
  const { readFile } = await import('node:fs/promises');
  const text = await readFile('/proc/net/tcp', 'utf8');
  const port = client.localPort!.toString(16).toUpperCase().padStart(4, '0');
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[2]?.endsWith(`:${port}`)) return parseInt(f[4]!.split(':')[1]!, 16);
  }
  return -1;
}

describe('syslog TCP: what was read from a connection is never lost', () => {
  it('at the stop: lines read while the pipeline was full are passed on after the stop begins (were lost: B 0/20)', async () => {
    const { h, port } = await startSyslog(running);
    h.block();
    const connections = watchConnections(port);
    const victim = await connect(port);
    const fin = finOf(victim);
    victim.write(lines('A', 20));
    // A is read, framed and held in emit (a full pipeline)
    await vi.waitFor(() => expect(h.metrics.get('received_events_total')).toBe(20), SOON);
    victim.write(lines('B', 20));
    // B is read by Node into the socket's buffer: the kernel holds nothing
    await vi.waitFor(() => expect(connections.sockets[0]!.bytesRead).toBe(victim.bytesWritten), SOON);
    expect(await serverRecvQ(victim)).toBe(0);
    h.abort();
    await fin; // the stop has begun
    h.unblock();
    await h.done;
    const bodies = h.events.map((e) => e.body);
    expect(bodies.filter((b) => String(b).startsWith('victim A'))).toHaveLength(20);
    expect(bodies.filter((b) => String(b).startsWith('victim B'))).toHaveLength(20);
    expect(h.metrics.get('received_events_total')).toBe(40);
  });

  it('at the stop: the client is sent FIN; one that closes then is read to its end at once, a last line without LF kept whole', async () => {
    const { h, port } = await startSyslog(running);
    const client = await connect(port);
    client.on('end', () => client.end('<13>1 - host app - - - goodbye without LF'));
    client.write(lines('A', 3));
    await h.waitForEvents(3);
    const started = Date.now();
    await h.stop();
    expect(Date.now() - started).toBeLessThan(900); // not the whole grace: the client's end came first
    expect(h.events.map((e) => e.body)).toEqual(['victim A0', 'victim A1', 'victim A2', 'goodbye without LF']);
    expect(h.events[3]!.attributes['log.truncated']).toBeUndefined();
  });

  it('a client reset: the lines read before it are passed on (were lost: B 0/20), and the reset is counted', async () => {
    const { h, port } = await startSyslog(running);
    h.block();
    const connections = watchConnections(port);
    const victim = await connect(port);
    victim.write(lines('A', 20));
    await vi.waitFor(() => expect(h.metrics.get('received_events_total')).toBe(20), SOON);
    victim.write(lines('B', 20));
    await vi.waitFor(() => expect(connections.sockets[0]!.bytesRead).toBe(victim.bytesWritten), SOON);
    expect(await serverRecvQ(victim)).toBe(0);
    victim.resetAndDestroy();
    // The input's end has the reset (and is closed) before the pipeline takes anything more.
    await vi.waitFor(() => expect(connections.open()).toBe(0), SOON);
    h.unblock();
    await h.waitForEvents(40);
    // The reset is seen after the bytes before it.
    await vi.waitFor(() => expect(h.metrics.get('errors_total')).toBe(1), SOON);
    expect(h.events.filter((e) => String(e.body).startsWith('victim B'))).toHaveLength(20);
    expect(h.metrics.get('received_events_total')).toBe(40);
    expect(h.metrics.get('errors_total')).toBe(1);
    expect(h.logs.find((l) => l.problem === 'connection_error')).toMatchObject({ error: expect.stringMatching(/ECONNRESET/) });
  });

  it('a line cut by the stop (no LF, the client still connected) is passed on marked log.truncated', async () => {
    const { h, port } = await startSyslog(running);
    const connections = watchConnections(port);
    const client = await connect(port, true);
    client.write('<13>1 - host app - - - complete\n<13>1 2026-01-01T00:00:00Z host app - - - this message is cut he');
    await h.waitForEvents(1);
    // The cut line is read too, before the stop.
    await vi.waitFor(() => expect(connections.sockets[0]!.bytesRead).toBe(client.bytesWritten), SOON);
    await h.stop();
    expect(h.events.map((e) => e.body)).toEqual(['complete', 'this message is cut he']);
    expect(h.events[0]!.attributes['log.truncated']).toBeUndefined();
    expect(h.events[1]!.attributes['log.truncated']).toBe(true);
    expect(h.logs.find((l) => l.problem === 'stopped_mid_frame')).toBeDefined();
    // The stop is not the client's fault.
    expect(h.metrics.get('errors_total')).toBe(0);
  });

  it('a client that goes on sending at the stop is read for the grace only, then cut; every line read is passed on', async () => {
    const { h, port } = await startSyslog(running);
    const client = await connect(port, true);
    client.on('error', () => undefined);
    let sent = 0;
    const timer = setInterval(() => {
      if (!client.destroyed) client.write(lines(`S${sent++}-`, 1));
    }, 5);
    await h.waitForEvents(20);
    const started = Date.now();
    await h.stop();
    clearInterval(timer);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(3000);
    // Every event is a whole line, in order, none twice.
    const n = h.events.length;
    expect(h.events.map((e) => e.body)).toEqual(Array.from({ length: n }, (_, i) => `victim S${i}-0`));
    expect(h.events.some((e) => e.attributes['log.truncated'])).toBe(false);
  });

  it.skipIf(!HAVE_OPENSSL)('TLS: at the stop, lines read while the pipeline was full are passed on, from a client sending all along', async () => {
    const cert = makeSelfSignedCert()!;
    const { h, port } = await startSyslog(running, { mode: 'tls', tls: { cert_file: cert.certFile, key_file: cert.keyFile } });
    h.block();
    const client = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ port, host: '127.0.0.1', ca: cert.cert }, () => resolve(s));
      s.on('error', reject);
      sockets.push(s);
    });
    client.on('error', () => undefined);
    const fin = finOf(client);
    client.write(lines('A', 20));
    // A is read, framed and held in emit (a full pipeline)
    await vi.waitFor(() => expect(h.metrics.get('received_events_total')).toBe(20), SOON);
    client.write(lines('B', 20));
    // B is read meanwhile: nothing outside the input says when (its TLS socket is the input's alone).
    await sleep(200);
    const timer = setInterval(() => {
      if (!client.destroyed) client.write(lines('C', 1));
    }, 5);
    h.abort();
    await fin; // the stop has begun
    h.unblock();
    await h.done;
    clearInterval(timer);
    const bodies = h.events.map((e) => String(e.body));
    expect(bodies.filter((b) => b.startsWith('victim A'))).toHaveLength(20);
    expect(bodies.filter((b) => b.startsWith('victim B'))).toHaveLength(20);
    expect(h.events.some((e) => e.attributes['log.truncated'])).toBe(false);
    expect(h.metrics.get('received_events_total')).toBe(h.events.length);
  });
});


describe('fluent_forward: the stop and resets', () => {
  it('at the stop, the chunk taken is acked once delivered, before the connection closes (was closed with no ack)', async () => {
    const { h, port } = await startForward(running);
    h.ackWith = 'manual';
    const c = await ForwardClient.connect(port);
    c.send(['app', [[1_700_000_000, { msg: 'in flight' }]], { chunk: 'stop-1' }]);
    await h.waitForEvents(1);
    h.abort();
    // Delivered after the stop's read grace (1 s) is over, as by a slow output: the connection, read no more,
    // is still open for the ack.
    await sleep(1300);
    h.batches[0]!.ack!('delivered');
    await c.waitForAck('stop-1', 3000);
    await c.closed;
    await h.done;
    expect(c.acks).toEqual(['stop-1']);
    expect(h.logs.filter((l) => l.level === 40)).toEqual([]);
  });

  it('at the stop, messages read while the pipeline was full are all passed on; a reset too', async () => {
    for (const how of ['stop', 'reset'] as const) {
      const { h, port } = await startForward(running);
      h.block();
      const connections = watchConnections(port);
      const c = await ForwardClient.connect(port);
      c.socket.on('error', () => undefined);
      c.send(['app', [[1_700_000_000, { msg: 'A' }]]]);
      // A is read and held in emit (a full pipeline)
      await vi.waitFor(() => expect(h.metrics.get('received_events_total')).toBe(1), SOON);
      for (let i = 0; i < 20; i++) c.send(['app', [[1_700_000_000, { msg: `B${i}` }]]]);
      // The B messages are read by Node into the socket's buffer: the kernel holds nothing
      await vi.waitFor(() => expect(connections.sockets[0]!.bytesRead).toBe(c.socket.bytesWritten), SOON);
      expect(await serverRecvQ(c.socket)).toBe(0);
      if (how === 'stop') {
        h.abort();
        // The stop has begun: the input's port takes no more connections.
        await vi.waitFor(async () => expect(await refused(port)).toBe(true), SOON);
      } else {
        c.socket.resetAndDestroy();
        await vi.waitFor(() => expect(connections.open()).toBe(0), SOON);
      }
      h.unblock();
      if (how === 'stop') await h.done;
      else await h.waitForEvents(21);
      expect(h.events.map((e) => (e.body as { msg: string }).msg), how).toEqual(['A', ...Array.from({ length: 20 }, (_, i) => `B${i}`)]);
    }
  });
});
