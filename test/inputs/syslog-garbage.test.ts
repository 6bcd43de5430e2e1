import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { builtModule, runWithGc } from '../helpers/gc-child.js';
import { startSyslog, watchConnections, type InputHarness } from '../helpers/network-input.js';

const running: InputHarness[] = [];

const start = (options: Record<string, unknown> = {}) => startSyslog(running, options);

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

function sendAndClose(port: number, data: string | Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.end(data));
    s.on('error', () => resolve());
    s.on('close', () => resolve());
  });
}

/** A well-behaved client still gets through: the daemon neither crashed nor stalled. */
async function stillServes(h: InputHarness, port: number): Promise<void> {
  const before = h.events.length;
  await sendAndClose(port, '<13>1 - host app - - - still alive\n');
  const events = await h.waitForEvents(before + 1);
  expect(events.some((e) => e.body === 'still alive')).toBe(true);
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((h) => h.stop()));
});

describe('syslog input under garbage', () => {
  it('random bytes become marked events, counted as malformed; other connections are unaffected', async () => {
    const { h, port } = await start();
    const good = await connect(port);
    await sendAndClose(port, randomBytes(1 << 20));
    good.write('<13>1 - host app - - - from the good client\n');
    // The garbage's events may all be in before the good line is read: wait for that line itself.
    await vi.waitFor(() => expect(h.events.some((e) => e.body === 'from the good client')).toBe(true), { timeout: 10_000, interval: 10 });
    good.end();
    const bad = h.events.filter((e) => e.body !== 'from the good client');
    expect(bad.length).toBeGreaterThan(0);
    for (const e of bad) expect(e.attributes['parse.error'] ?? e.attributes['log.invalid_utf8'] ?? e.attributes['log.truncated']).toBeDefined();
    expect(h.metrics.get('malformed_events_total')).toBeGreaterThan(0);
    await stillServes(h, port);
  });

  it('a 10 MiB line is cut to max_message_bytes and marked; the next message is intact', async () => {
    const { h, port } = await start({ max_message_bytes: '8KiB' });
    const huge = Buffer.alloc(10 * 1024 * 1024, 'a');
    huge.write('<13>1 - host app - - - ', 0);
    await sendAndClose(port, Buffer.concat([huge, Buffer.from('\n<14>1 - host app - - - after the huge line\n')]));
    const events = await h.waitForEvents(2);
    expect(events).toHaveLength(2);
    expect(events[0]!.attributes['log.truncated']).toBe(true);
    expect(String(events[0]!.body).length).toBeLessThanOrEqual(8192);
    expect(events[1]!.body).toBe('after the huge line');
    await stillServes(h, port);
  });

  it('a client that sends half an octet-counted frame and disconnects: what arrived is kept, marked, counted and logged', async () => {
    const { h, port } = await start();
    await sendAndClose(port, '500 <13>1 - host app - - - only the first part');
    const [e] = await h.waitForEvents(1);
    expect(e).toMatchObject({ body: 'only the first part', attributes: { 'log.truncated': true } });
    expect(h.metrics.get('errors_total')).toBe(1);
    expect(h.logs.some((l) => l.problem === 'incomplete_frame')).toBe(true);
    await stillServes(h, port);
  });

  it('a bogus octet count far above max_message_bytes does not swallow the messages after it: counted, logged, each good message arrives', async () => {
    const { h, port } = await start({ max_message_bytes: '1KiB' });
    const good = (i: number) => `<14>1 - host app - - - good ${i}\n`;
    const counted = '<14>1 - host app - - - good 3';
    // On one connection: bogus counts, each followed by good messages (one of them octet-counted); the last
    // one's event says that all before it are in.
    await sendAndClose(port, ['99999999 <13>hi\n', good(0), '99999999999 <13>eleven digits\n', good(1), `5000 <13>${'x'.repeat(900)}\n`, good(2), `${counted.length} ${counted}`, good(4), good(5)].join(''));
    await vi.waitFor(() => expect(h.events.at(-1)?.body).toBe('good 5'), { timeout: 10_000, interval: 10 });
    const events = h.events.slice(0, -1);
    // Before: one event, '<13>hi' and the messages after it cut to 1 KiB, marked log.truncated; nothing else.
    expect(events.map((e) => e.body)).toEqual(['hi', 'good 0', '99999999999 <13>eleven digits', 'good 1', 'x'.repeat(900), 'good 2', 'good 3', 'good 4']);
    expect(events.filter((e) => e.attributes['log.truncated'])).toEqual([]);
    // Eleven digits are more than any count: a line that does not parse (as before), marked and counted malformed.
    expect(events[2]!.attributes['parse.error']).toBeDefined();
    expect(h.metrics.get('malformed_events_total')).toBe(1);
    // The two counts read as no count: errors_total, and a line in the log with the count.
    expect(h.metrics.get('errors_total')).toBe(2);
    expect(h.logs.find((l) => l.problem === 'bad_octet_count')).toMatchObject({ count: 99999999, max_message_bytes: 1024, peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
    await stillServes(h, port);
  });

  it('1,000 connections at once are all served', async () => {
    const { h, port } = await start();
    await Promise.all(Array.from({ length: 1000 }, (_, i) => sendAndClose(port, `<13>1 - host app - - - conn ${i}\n`)));
    const events = await h.waitForEvents(1000, 20_000);
    expect(new Set(events.map((e) => e.body)).size).toBe(1000);
    await stillServes(h, port);
  });

  it('connections beyond max_connections are refused, counted and logged; later clients get through', async () => {
    const { h, port } = await start({ max_connections: 10 });
    const connections = watchConnections(port);
    const held = await Promise.all(Array.from({ length: 10 }, () => connect(port)));
    const refused = await Promise.all(Array.from({ length: 20 }, () => new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.write('<13>1 - h a - - - refused?\n'));
      s.on('close', () => resolve(true));
      s.on('error', () => resolve(true));
    })));
    expect(refused.every(Boolean)).toBe(true);
    expect(h.metrics.get('errors_total')).toBe(20);
    expect(h.logs.some((l) => l.problem === 'too_many_connections')).toBe(true);
    for (const s of held) s.destroy();
    // The input has seen them close: their slots are free.
    await vi.waitFor(() => expect(connections.open()).toBe(0), { timeout: 10_000, interval: 10 });
    await stillServes(h, port);
    expect(h.events.some((e) => e.body === 'refused?')).toBe(false);
  });

  it('a sender held back by a full pipeline is not closed as idle; let go, then silent, it is', async () => {
    const { h, port } = await start({ idle_timeout: '200ms' });
    // Made before connecting: made after, it held the event loop past idle_timeout on a loaded machine, with
    // the connection open and not read yet (what the held-up test in syslog.test.ts checks).
    const line = Buffer.from(`<13>1 - host app - - - ${'q'.repeat(200)}\n`);
    const chunk = Buffer.concat(Array.from({ length: 1000 }, () => line));
    h.block();
    const s = await connect(port);
    let closed = false;
    s.on('close', () => (closed = true));
    for (let i = 0; i < 40; i++) s.write(chunk);
    // Held back: the input has read and is handing its first messages to the held pipeline.
    while (h.metrics.get('received_events_total') < 1) await new Promise((r) => setTimeout(r, 10));
    // Two idle timeouts, held back all along: not idle (closed at the first when unread bytes did not count).
    await new Promise((r) => setTimeout(r, 400));
    expect(closed).toBe(false);
    expect(h.logs.some((l) => l.problem === 'idle_timeout')).toBe(false);
    expect(s.writableLength).toBeGreaterThan(0);
    h.unblock();
    await h.waitForEvents(40_000);
    // Everything read and the sender silent: closed as idle (before, never: its timer's one-time listener was
    // spent while it was held back).
    for (const started = Date.now(); !closed && Date.now() - started < 5_000; ) await new Promise((r) => setTimeout(r, 10));
    expect(closed).toBe(true);
    expect(h.logs.filter((l) => l.problem === 'idle_timeout')).toHaveLength(1);
  });

  it('a full pipeline slows TCP senders down instead of buffering without bound', async () => {
    const { h, port } = await start();
    h.block();
    const s = await connect(port);
    const line = Buffer.from(`<13>1 - host app - - - ${'p'.repeat(200)}\n`);
    const chunk = Buffer.concat(Array.from({ length: 1000 }, () => line));
    // Offer 16 MiB, far more than the kernel's socket buffers hold (a few MiB at most).
    for (let offered = 0; offered < 16 * 2 ** 20; offered += chunk.length) s.write(chunk);
    await new Promise((r) => setTimeout(r, 500));
    // The server stopped reading while its pipeline is full: most of it is still waiting in the sender
    // (a server that kept reading into memory would have drained it all by now).
    expect(s.writableLength).toBeGreaterThan(8 * 2 ** 20);
    expect(h.events).toHaveLength(0);
    h.unblock();
    s.end();
    await h.waitForEvents(1000);
  });
});

describe('syslog events of long lines', () => {
  it('keep none of the line alive through their header fields (a slice is a view of its whole line)', async () => {
    const script = `
      const { syslogEvent } = await import(${builtModule('dist/src/inputs/syslog/event.js')});
      const kept = [];
      globalThis.gc(); const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < 200; i++) {
        const line = '<13>1 2025-01-01T00:00:00Z web-frontend-' + String(i).padStart(4, '0') + '.example.internal payments-service-api 4242 - - ' + 'x'.repeat(300000);
        const { event } = syslogEvent(Buffer.from(line), false, 'syslog', undefined, 1735689600000);
        // What a detector keyed by host and app keeps: the two header fields.
        kept.push(event.attributes['syslog.hostname'], event.attributes['syslog.appname']);
      }
      globalThis.gc();
      process.stdout.write(String(process.memoryUsage().heapUsed - before) + ' ' + kept.length);`;
    const [retained, count] = runWithGc(script).split(' ').map(Number);
    expect(count).toBe(400);
    // 60 MB of lines; 400 short strings kept (before: all the lines with them).
    expect(retained).toBeLessThan(4 * 2 ** 20);
  });
});
