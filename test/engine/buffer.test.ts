import { describe, expect, it } from 'vitest';
import { Finalizer, type AckStatus, type Batch } from '../../src/engine/acknowledgement.js';
import { BatchBuffer } from '../../src/engine/buffer.js';

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
