/** The HTTP API server on its own: the address it binds, and its routes, asked over 127.0.0.1. */
import net, { type AddressInfo } from 'node:net';
import http from 'node:http';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { API_MAX_CONNECTIONS_PER_ADDRESS, startApiServer } from '../../src/api/server.js';
import { createEvent } from '../../src/engine/event.js';
import { ComponentMetrics } from '../../src/engine/metrics.js';
import { Taps } from '../../src/engine/tap.js';
import { until } from '../helpers/wait.js';

let server: http.Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

const start = async (address: string, state: 'starting' | 'running' | 'reloading' | 'stopping' = 'running') =>
  (server = await startApiServer({ address, logger: pino({ level: 'silent' }), metrics: () => [], state: () => state }));

describe('API server', () => {
  it('/metrics answers without the resident memory when it cannot be read (out of file descriptors), instead of the daemon exiting', async () => {
    const s = await start('127.0.0.1:0');
    const base = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/^driftlock_process_resident_memory_bytes \d+$/m);
    // Node reads it from /proc: with every descriptor in use, it throws EMFILE (uv_resident_set_memory).
    const rss = vi.spyOn(process, 'memoryUsage').mockImplementation(() => {
      throw Object.assign(new Error('EMFILE: too many open files, uv_resident_set_memory'), { code: 'EMFILE' });
    });
    try {
      const res = await fetch(`${base}/metrics`);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).not.toMatch(/^driftlock_process_resident_memory_bytes/m);
      expect(text).toMatch(/^driftlock_process_uptime_seconds /m);
      // Said in the scrape, as a comment Prometheus ignores.
      expect(text).toMatch(/^# driftlock could not read driftlock_process_resident_memory_bytes: EMFILE: too many open files, uv_resident_set_memory$/m);
    } finally {
      rss.mockRestore();
    }
  });

  it('/metrics leaves out a gauge that cannot be read (a plugin\'s that reads /proc, out of file descriptors) and says so; the rest is served, the daemon goes on', async () => {
    const metrics = new ComponentMetrics('fds', 'output', 'fd_count').declare('errors_total');
    metrics.gauge('open_descriptors', () => {
      throw Object.assign(new Error("EMFILE: too many open files, scandir '/proc/self/fd'"), { code: 'EMFILE' });
    });
    metrics.gauge('buffer_events', () => 3);
    server = await startApiServer({ address: '127.0.0.1:0', logger: pino({ level: 'silent' }), metrics: () => [metrics], state: () => 'running' });
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // Before: the throw in the handler was an uncaught exception (the daemon exited 70).
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('driftlock_buffer_events{component_id="fds",component_kind="output",component_type="fd_count"} 3');
    expect(text).toContain('driftlock_errors_total{component_id="fds"');
    expect(text).not.toMatch(/^driftlock_open_descriptors/m);
    expect(text).toMatch(/^# driftlock could not read driftlock_open_descriptors\{component_id="fds"\}: EMFILE: too many open files, scandir '\/proc\/self\/fd'$/m);
    // And the exit summary leaves it out too.
    expect(metrics.snapshot()).toEqual({ buffer_events: 3 });
  });

  it('a request whose answer throws is answered 500 saying what it could not do, said once in the log; the server goes on', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    let broken = true;
    server = await startApiServer({
      address: '127.0.0.1:0',
      logger,
      metrics: () => {
        if (broken) throw Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' });
        return [];
      },
      trouble: () => {
        if (broken) throw new Error('cannot read the components');
        return [];
      },
      state: () => 'running',
    });
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // Before: each was an uncaught exception (the daemon exited 70).
    const metrics = await fetch(`${base}/metrics`);
    expect([metrics.status, await metrics.text()]).toEqual([500, 'could not answer GET /metrics: EMFILE: too many open files\n']);
    const health = await fetch(`${base}/health`);
    expect([health.status, await health.text()]).toEqual([500, 'could not answer GET /health: cannot read the components\n']);
    expect((await fetch(`${base}/livez`)).status).toBe(200);
    broken = false;
    expect((await fetch(`${base}/metrics`)).status).toBe(200);
    const said = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => !l.msg.startsWith('API listening'));
    expect(said.map((l) => [l.level, l.msg])).toEqual([
      [50, 'the API could not answer GET /metrics: answered 500, saying why; the daemon goes on (said once until a request is answered again)'],
      [30, 'the API answers requests again'],
    ]);
  });

  it('reads api.address as the network inputs read theirs: ":port" is every interface, a host is that host', async () => {
    // Before: ":port" bound 127.0.0.1 here, while the same text in an input's address means every interface.
    expect((await start(':0')).address()).toMatchObject({ address: '0.0.0.0' });
    const port = ((server!.address() as AddressInfo).port);
    expect((await fetch(`http://127.0.0.1:${port}/livez`)).status).toBe(200);
    await new Promise((resolve) => server!.close(resolve));
    expect((await start('127.0.0.1:0')).address()).toMatchObject({ address: '127.0.0.1' });
  });

  it('/livez is 200 in every state; /readyz and /health only while running', async () => {
    for (const state of ['starting', 'running', 'reloading', 'stopping'] as const) {
      const s = await start('127.0.0.1:0', state);
      const base = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
      const live = await fetch(`${base}/livez`);
      expect([live.status, await live.json()]).toEqual([200, { status: 'alive', state }]);
      for (const path of ['/readyz', '/health']) expect((await fetch(`${base}${path}`)).status).toBe(state === 'running' ? 200 : 503);
      expect((await fetch(`${base}/nope`)).status).toBe(404);
      await new Promise((resolve) => s.close(resolve));
      server = undefined;
    }
  });

  it('/health lists the components in trouble in every state: stopping, reloading and starting stay 503 with their status; running is degraded', async () => {
    // Before, only while running: during a stop's drain /health said {"status":"stopping"}, and a flush that
    // failed or a crash then showed only in the log and the exit code.
    const failing = [{ component: 'm', kind: 'transform', last_error: 'flush() failed', seconds_ago: 0, restarts: 0, problems: [{ problem: 'flush_failed', last_error: 'flush() failed', seconds_ago: 0 }] }];
    for (const state of ['starting', 'running', 'reloading', 'stopping'] as const) {
      for (const trouble of [[], failing]) {
        const s = (server = await startApiServer({ address: '127.0.0.1:0', logger: pino({ level: 'silent' }), metrics: () => [], state: () => state, trouble: () => trouble }));
        const base = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
        for (const path of ['/readyz', '/health']) {
          const res = await fetch(`${base}${path}`);
          const status = state !== 'running' ? state : trouble.length ? 'degraded' : 'ok';
          expect([res.status, await res.json()], `${state} ${trouble.length}`).toEqual([status === 'ok' ? 200 : 503, { status, ...(trouble.length ? { failing } : {}) }]);
        }
        await new Promise((resolve) => s.close(resolve));
        server = undefined;
      }
    }
  });

  /** A connection from `localAddress` that sends the start of a request and no more; `closed` resolves when the server closes it. */
  const stalled = (port: number, localAddress = '127.0.0.1') =>
    new Promise<{ socket: net.Socket; closed: Promise<number> }>((resolve, reject) => {
      const started = performance.now();
      const socket = net.connect({ port, host: '127.0.0.1', localAddress }, () => {
        socket.write('GET /health HTTP/1.1\r\nHost: x\r\n');
        resolve({ socket, closed: new Promise((done) => socket.on('close', () => done(performance.now() - started))) });
      });
      socket.on('error', () => undefined);
      socket.once('error', reject);
      // Read what the server says (a 408), or its closing is never seen.
      socket.resume();
    });

  it('keeps at most API_MAX_CONNECTIONS_PER_ADDRESS connections from one address: more are closed at once, other addresses are served', async () => {
    const port = ((await start('127.0.0.1:0')).address() as AddressInfo).port;
    const held = await Promise.all(Array.from({ length: API_MAX_CONNECTIONS_PER_ADDRESS }, () => stalled(port)));
    const extra = await stalled(port);
    expect(await Promise.race([extra.closed.then(() => 'closed'), new Promise((r) => setTimeout(() => r('still open'), 2000))])).toBe('closed');
    // The kubelet's probe comes from elsewhere: answered while one address holds all its places.
    const probe = await new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/health', localAddress: '127.0.0.2', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      }).on('error', reject);
    });
    expect(probe).toBe(200);
    for (const { socket } of held) socket.destroy();
    await Promise.all(held.map((h) => h.closed));
    // Places come free when connections close (once the server has seen them go).
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = await fetch(`http://127.0.0.1:${port}/livez`).then((r) => r.status, () => 0);
      if (status !== 200) await new Promise((r) => setTimeout(r, 20));
    }
    expect(status).toBe(200);
  });

  it('closes a connection whose request headers do not come within the headers timeout; an open tap is not cut by it', async () => {
    const taps = new Taps();
    server = await startApiServer({ address: '127.0.0.1:0', logger: pino({ level: 'silent' }), metrics: () => [], state: () => 'running', tap: { taps, producers: () => ['web'] }, headersTimeoutMs: 500 });
    const port = (server.address() as AddressInfo).port;
    const tapped: string[] = [];
    const tap = await new Promise<http.IncomingMessage>((resolve) => http.get(`http://127.0.0.1:${port}/tap?limit=0`, { agent: false }, resolve));
    tap.setEncoding('utf8').on('data', (d: string) => tapped.push(d));
    const slow = await stalled(port);
    // Before: Node's 60 s header timeout, checked every 30 s, held such a connection for up to 90 s.
    expect(await slow.closed).toBeLessThan(1500);
    // A tap is one request whose answer goes on: well past the request timeout (3 x 500 ms), it still shows events.
    await new Promise((r) => setTimeout(r, 2000));
    taps.offer('web', [createEvent('still here', { input: 'web' })]);
    await until(() => tapped.join('').includes('still here'), 'the tap showing the "still here" event', { timeoutMs: 2_000, detail: () => `tapped: ${tapped.join('').slice(-500)}` });
    expect(tapped.join('')).toContain('still here');
    tap.destroy();
  });
});
