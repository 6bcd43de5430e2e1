/** The API's `GET /tap` on its own, with a real HTTP client on 127.0.0.1: what it shows, and what it never does (hold the pipeline up). */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { isLocalConnection, isLoopback, startApiServer, TAP_MAX_OPEN } from '../../src/api/server.js';
import { createEvent, type Attributes } from '../../src/engine/event.js';
import { Taps, tapPattern } from '../../src/engine/tap.js';
import { until } from '../helpers/wait.js';

let server: http.Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

const PRODUCERS = ['web', 'parse_access', 'parse_app', 'detect'];

async function start(taps: Taps): Promise<string> {
  server = await startApiServer({ address: '127.0.0.1:0', logger: pino({ level: 'silent' }), metrics: () => [], state: () => 'running', tap: { taps, producers: () => PRODUCERS } });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const event = (n: number, body: string | Attributes = { n }) => createEvent(body, { input: 'web' }, 1_700_000_000_000 + n);

/** Opens a tap; `lines()` is what arrived so far, `done` resolves at the end of the response. */
function openTap(url: string): Promise<{ res: http.IncomingMessage; lines: () => unknown[]; done: Promise<void> }> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      const done = new Promise<void>((end) => res.on('end', end));
      res.on('data', (chunk: string) => (text += chunk));
      resolve({ res, lines: () => text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown), done });
    }).on('error', reject);
  });
}

describe('GET /tap', () => {
  it('shows the events of the components it names (globs too) until its limit, then ends and closes its tap', async () => {
    const taps = new Taps();
    const base = await start(taps);
    const tap = await openTap(`${base}/tap?components=parse_*&limit=3`);
    expect(tap.res.statusCode).toBe(200);
    expect(tap.res.headers['content-type']).toBe('application/x-ndjson');
    expect(tap.res.headers['x-driftlock-tap-components']).toBe('parse_access,parse_app');
    await until(() => taps.active, 'the tap to open (taps.active)', { timeoutMs: 5_000 });
    taps.offer('web', [event(1)]);
    taps.offer('parse_access', [event(2), event(3)]);
    taps.offer('detect', [event(4)]);
    taps.offer('parse_app', [event(5, 'plain text'), event(6)]);
    await tap.done;
    expect(tap.lines()).toEqual([
      { component: 'parse_access', event: expect.objectContaining({ body: { n: 2 }, observedTimestamp: 1_700_000_000_002, source: { input: 'web' } }) as unknown },
      { component: 'parse_access', event: expect.objectContaining({ body: { n: 3 } }) as unknown },
      { component: 'parse_app', event: expect.objectContaining({ body: 'plain text' }) as unknown },
    ]);
    expect(taps.active).toBe(false);
  });

  it('closes its tap when the client goes; refuses a pattern that matches nothing (naming the components) and a bad limit', async () => {
    const taps = new Taps();
    const base = await start(taps);
    const tap = await openTap(`${base}/tap?limit=0`);
    await until(() => taps.active, 'the tap to open (taps.active)', { timeoutMs: 5_000 });
    tap.res.destroy();
    await until(() => !taps.active, 'the tap to close after its client went', { timeoutMs: 5_000 });
    const none = await fetch(`${base}/tap?components=nope,pars`);
    expect(none.status).toBe(404);
    expect(await none.json()).toEqual({ error: 'no input or transform matches nope, pars', components: PRODUCERS });
    for (const limit of ['-1', '2.5', 'x']) expect((await fetch(`${base}/tap?limit=${limit}`)).status).toBe(400);
    expect(taps.active).toBe(false);
  });

  it('never holds the pipeline up: a reader that does not read misses events, and is told how many', async () => {
    const taps = new Taps();
    const base = await start(taps);
    const tap = await openTap(`${base}/tap?components=web&limit=0`);
    tap.res.pause();
    await until(() => taps.active, 'the tap to open (taps.active)', { timeoutMs: 5_000 });
    // 4,000 events of 2 KB (8 MB) offered while the reader reads nothing: each offer returns at once.
    const big = 'x'.repeat(2000);
    const started = performance.now();
    for (let i = 0; i < 4000; i++) taps.offer('web', [event(i, big)]);
    expect(performance.now() - started).toBeLessThan(5000);
    tap.res.resume();
    await new Promise((r) => setTimeout(r, 200));
    taps.offer('web', [event(4000, 'after')]);
    await until(() => tap.lines().some((l) => (l as { event?: { body?: unknown } }).event?.body === 'after'), 'the tap reader getting the "after" event', {
      timeoutMs: 5_000,
      detail: () => `${tap.lines().length} lines read`,
    });
    const lines = tap.lines() as Array<{ missed?: number; event?: unknown }>;
    const missed = lines.filter((l) => l.missed !== undefined);
    expect(missed).toHaveLength(1);
    const shown = lines.filter((l) => l.event !== undefined).length;
    expect(missed[0]!.missed).toBeGreaterThan(1000);
    // Every event is either shown or counted as missed.
    expect(shown + missed[0]!.missed!).toBe(4001);
  });

  it('serves at most TAP_MAX_OPEN taps at once: one more is refused (429, saying why) until one closes', async () => {
    const taps = new Taps();
    const base = await start(taps);
    // Readers that never read: each may hold up to 1 MiB of events, so their number is what bounds memory.
    const open = await Promise.all(Array.from({ length: TAP_MAX_OPEN }, () => openTap(`${base}/tap?limit=0`)));
    for (const tap of open) tap.res.pause();
    expect(open.map((t) => t.res.statusCode)).toEqual(Array(TAP_MAX_OPEN).fill(200));
    const refused = await fetch(`${base}/tap?limit=0`);
    expect(refused.status).toBe(429);
    expect(await refused.json()).toEqual({ error: `${TAP_MAX_OPEN} taps are open already, the most the daemon serves at once; close one (or wait for one to end) and try again` });
    // The server learns of a client gone a moment after it goes: ask again until then.
    const openOnceFree = async (url: string) => {
      for (let i = 0; i < 100; i++) {
        const tap = await openTap(url);
        if (tap.res.statusCode !== 429) return tap;
        tap.res.resume();
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error('no tap place came free');
    };
    open[0]!.res.destroy();
    const again = await openOnceFree(`${base}/tap?limit=1`);
    expect(again.res.statusCode).toBe(200);
    taps.offer('web', [event(1)]);
    await again.done;
    // A tap that ended at its limit frees its place too.
    const last = await openOnceFree(`${base}/tap?limit=0`);
    expect(last.res.statusCode).toBe(200);
    for (const tap of [...open.slice(1), last]) tap.res.destroy();
    await until(() => !taps.active, 'every tap to close after their clients went', { timeoutMs: 5_000 });
  });

  it('is served to clients on this machine only', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) expect(isLoopback(a), a).toBe(true);
    for (const a of ['10.0.0.1', '::ffff:10.0.0.1', '192.168.1.20', 'fe80::1', '::', undefined]) expect(isLoopback(a), String(a)).toBe(false);
  });

  it('is served on connections whose both ends are on loopback: not to a proxy forwarding outside clients from a loopback address', async () => {
    // `driftlock tap` beside the daemon, on IPv4, IPv6 and IPv4-mapped IPv6 (an API on `::`).
    for (const [remote, local] of [['127.0.0.1', '127.0.0.1'], ['::1', '::1'], ['::ffff:127.0.0.1', '::ffff:127.0.0.1']]) expect(isLocalConnection(remote, local)).toBe(true);
    // Istio's sidecar hands an outside client's connection to the pod's address from 127.0.0.6.
    for (const [remote, local] of [['127.0.0.6', '10.244.1.17'], ['::ffff:127.0.0.6', '::ffff:10.244.1.17'], ['10.0.0.1', '127.0.0.1'], ['127.0.0.1', undefined]]) expect(isLocalConnection(remote, local), `${remote} -> ${local}`).toBe(false);
    // And through the server: a client on loopback is served.
    const taps = new Taps();
    const base = await start(taps);
    const tap = await openTap(`${base}/tap?limit=0`);
    expect(tap.res.statusCode).toBe(200);
    tap.res.destroy();
  });
});

describe('Taps', () => {
  it('matches ids, and globs with * for any characters (other characters taken as they are)', () => {
    const m = tapPattern(['detect', 'parse_*', 'a.b*']);
    expect(['detect', 'parse_x', 'parse_', 'a.bc'].map(m)).toEqual([true, true, true, true]);
    expect(['detector', 'xparse_a', 'axbc'].map(m)).toEqual([false, false, false]);
    expect(['anything', ''].map(tapPattern(['*']))).toEqual([true, true]);
  });

  it('drops a tap whose sink throws, and goes on offering to the others', () => {
    const taps = new Taps();
    const seen: string[] = [];
    taps.watch(() => true, () => {
      throw new Error('reader gone');
    });
    taps.watch(() => true, (c) => seen.push(c));
    taps.offer('a', [event(1)]);
    taps.offer('b', [event(2)]);
    expect(seen).toEqual(['a', 'b']);
  });
});
