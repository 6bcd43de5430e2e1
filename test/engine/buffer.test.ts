import { describe, expect, it } from 'vitest';
import { Finalizer, type AckStatus, type Batch } from '../../src/engine/acknowledgement.js';
import { BatchBuffer, batchBytes } from '../../src/engine/buffer.js';
import type { LogEvent } from '../../src/engine/event.js';

function batch(n: number, tag: string, statuses?: AckStatus[]): Batch {
  const events = Array.from({ length: n }, (_, i) => ({ observedTimestamp: 0, body: `${tag}${i}`, attributes: {}, source: { input: tag } }));
  return { events, finalizers: statuses ? [new Finalizer((s) => statuses.push(s))] : [] };
}

describe('BatchBuffer', () => {
  it('keeps order and ends iteration once every producer has closed and the queue is drained', async () => {
    const buffer = new BatchBuffer({ maxEvents: 100, whenFull: 'block' });
    const closeA = buffer.addProducer();
    const closeB = buffer.addProducer();
    await buffer.send(batch(2, 'a'));
    await buffer.send(batch(3, 'b'));
    closeA();
    expect(buffer.closed).toBe(false);
    closeB();
    const seen: string[] = [];
    for await (const b of buffer) seen.push(...b.events.map((e) => e.body as string));
    expect(seen).toEqual(['a0', 'a1', 'b0', 'b1', 'b2']);
  });

  it('takeQueued() takes the next queued batch at once, in order, makes room for a waiting sender, and is undefined when none is queued', async () => {
    const buffer = new BatchBuffer({ maxEvents: 4, whenFull: 'block' });
    const close = buffer.addProducer();
    expect(buffer.takeQueued()).toBeUndefined();
    await buffer.send(batch(2, 'a'));
    await buffer.send(batch(2, 'b'));
    let sent = false;
    const third = buffer.send(batch(2, 'c')).then(() => (sent = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(sent).toBe(false);
    expect(buffer.takeQueued()!.events.map((e) => e.body)).toEqual(['a0', 'a1']);
    await third;
    expect(buffer.stats.queuedEvents).toBe(4);
    expect(buffer.takeQueued()!.events.map((e) => e.body)).toEqual(['b0', 'b1']);
    expect((await buffer.next())!.events.map((e) => e.body)).toEqual(['c0', 'c1']);
    expect(buffer.takeQueued()).toBeUndefined();
    expect(buffer.stats.queuedEvents).toBe(0);
    close();
    expect(await buffer.next()).toBeUndefined();
  });

  it('blocks senders while full, wakes them in arrival order, and never holds more than its capacity', async () => {
    const buffer = new BatchBuffer({ maxEvents: 4, whenFull: 'block' });
    const close = buffer.addProducer();
    const order: string[] = [];
    await buffer.send(batch(4, 'first'));
    const second = buffer.send(batch(2, 'second')).then(() => order.push('second'));
    const third = buffer.send(batch(2, 'third')).then(() => order.push('third'));
    await new Promise((r) => setTimeout(r, 20));
    expect(order).toEqual([]);
    expect(buffer.stats.queuedEvents).toBe(4);
    expect(buffer.stats.blockedSends).toBe(2);
    expect((await buffer.next())!.events).toHaveLength(4);
    await Promise.all([second, third]);
    expect(order).toEqual(['second', 'third']);
    expect(buffer.stats.queuedEvents).toBe(4);
    close();
    expect((await buffer.next())!.events[0]!.body).toBe('second0');
    expect((await buffer.next())!.events[0]!.body).toBe('third0');
    expect(await buffer.next()).toBeUndefined();
  });

  it('accepts a batch larger than its capacity when empty, so a big batch cannot deadlock', async () => {
    const buffer = new BatchBuffer({ maxEvents: 3, whenFull: 'block' });
    buffer.addProducer();
    expect(await buffer.send(batch(10, 'big'))).toBe(true);
    expect(buffer.stats.queuedEvents).toBe(10);
  });

  it('drop_newest discards what does not fit, counts it, and completes its acknowledgement as dropped', async () => {
    const buffer = new BatchBuffer({ maxEvents: 5, whenFull: 'drop_newest' });
    buffer.addProducer();
    const statuses: AckStatus[] = [];
    expect(await buffer.send(batch(5, 'kept', statuses))).toBe(true);
    expect(await buffer.send(batch(3, 'lost', statuses))).toBe(false);
    expect(buffer.stats.droppedEvents).toBe(3);
    expect(statuses).toEqual(['dropped']);
  });

  it('max_bytes: full at its bytes before its events, blocks or drops the next batch, and still takes a bigger batch when empty', async () => {
    const line = (n: number, tag: string): Batch => ({ events: Array.from({ length: n }, () => ({ observedTimestamp: 0, body: tag.padEnd(10_000, 'x'), attributes: {}, source: { input: tag } })), finalizers: [] });
    const blocking = new BatchBuffer({ maxEvents: 10_000, maxBytes: 35_000, whenFull: 'block' });
    const close = blocking.addProducer();
    await blocking.send(line(3, 'a')); // 3 x (10,000 + 100) bytes
    expect(blocking.stats).toMatchObject({ queuedEvents: 3, queuedBytes: 30_300 });
    let sent = false;
    const second = blocking.send(line(1, 'b')).then(() => (sent = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(sent).toBe(false);
    expect(blocking.stats.blockedSends).toBe(1);
    expect((await blocking.next())!.events).toHaveLength(3);
    await second;
    expect(blocking.stats).toMatchObject({ queuedEvents: 1, queuedBytes: 10_100 });
    close();
    expect((await blocking.next())!.events[0]!.body).toMatch(/^b/);
    expect(blocking.stats.queuedBytes).toBe(0);

    const dropping = new BatchBuffer({ maxEvents: 10_000, maxBytes: 35_000, whenFull: 'drop_newest' });
    dropping.addProducer();
    const statuses: AckStatus[] = [];
    expect(await dropping.send(line(10, 'big'))).toBe(true); // larger than the bound, into an empty buffer
    expect(dropping.stats.queuedBytes).toBe(101_000);
    expect(await dropping.send({ ...batch(1, 'small'), finalizers: [new Finalizer((s) => statuses.push(s))] })).toBe(false);
    expect(dropping.stats.droppedEvents).toBe(1);
    expect(statuses).toEqual(['dropped']);
  });

  it('batchBytes counts the text of body, attributes and resource, nested values too, and 100 bytes an event', () => {
    const event = (e: Partial<LogEvent>): LogEvent => ({ observedTimestamp: 0, body: '', attributes: {}, source: { input: 'x' }, ...e });
    expect(batchBytes([event({ body: 'x'.repeat(1000) })])).toBe(1100);
    // key "a" (1) + "bc" (2) + 500 + key "n" (1) + a number (8)
    expect(batchBytes([event({ body: { a: { bc: ['y'.repeat(500)] }, n: 1 } })])).toBe(100 + 1 + 2 + 500 + 1 + 8);
    expect(batchBytes([event({ attributes: { k: 'v'.repeat(99) }, resource: { s: 'w' } })])).toBe(100 + 1 + 99 + 1 + 1);
  });

  it('a batch that says its bytes (carried from upstream) is taken at its word, not walked again', async () => {
    const buffer = new BatchBuffer({ maxEvents: 10, maxBytes: 1000, whenFull: 'drop_newest' });
    buffer.addProducer();
    expect(await buffer.send({ ...batch(1, 'a'), bytes: 900 })).toBe(true);
    expect(buffer.stats.queuedBytes).toBe(900);
    expect(await buffer.send(batch(1, 'b'))).toBe(false); // its ~102 bytes do not fit beside 900
    // What is not a size (a plugin's batch) is estimated instead: NaN would have made the buffer never full.
    const other = new BatchBuffer({ maxEvents: 10, maxBytes: 1000, whenFull: 'drop_newest' });
    other.addProducer();
    expect(await other.send({ ...batch(1, 'a'), bytes: Number.NaN })).toBe(true);
    expect(other.stats.queuedBytes).toBe(102);
  });

  it('an empty batch is acknowledged at once and not queued', async () => {
    const buffer = new BatchBuffer({ maxEvents: 5, whenFull: 'block' });
    buffer.addProducer();
    const statuses: AckStatus[] = [];
    await buffer.send(batch(0, 'none', statuses));
    expect(statuses).toEqual(['delivered']);
    expect(buffer.stats.queuedEvents).toBe(0);
  });
});

describe('Finalizer', () => {
  it('completes once, after every holder released, with the worst status', () => {
    const statuses: AckStatus[] = [];
    const f = new Finalizer((s) => statuses.push(s));
    f.retain(2);
    f.release('delivered');
    f.release('rejected');
    expect(statuses).toEqual([]);
    f.release('delivered');
    expect(statuses).toEqual(['rejected']);
    f.release('delivered');
    expect(statuses).toEqual(['rejected']);
    expect(() => f.retain()).toThrow(/already completed/);
  });
});
