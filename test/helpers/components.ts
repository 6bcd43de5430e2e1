/** Small components for engine tests, registered exactly as built-ins and plugins are. */
import { pino } from 'pino';
import { z } from 'zod';
import { ackBatch, type AckStatus, type Batch } from '../../src/engine/acknowledgement.js';
import { defineInput, defineOutput, defineTransform } from '../../src/engine/component.js';
import type { LogEvent } from '../../src/engine/event.js';
import { ComponentRegistry } from '../../src/engine/registry.js';
import { parseConfig, type PipelineConfig } from '../../src/config/load.js';
import { Pipeline } from '../../src/engine/pipeline.js';

export const silentLogger = pino({ level: 'silent' });

/** Per-test hooks the components call into, keyed by component id. */
export const hooks = {
  /** What each `numbers` input learned from acknowledgements: [first number of batch, status]. */
  acks: new Map<string, Array<[number, AckStatus]>>(),
  /** Events each `collect` output received, in order. */
  received: new Map<string, LogEvent[]>(),
  /** Called by `collect` before acknowledging a batch; may delay, throw, or never resolve. */
  beforeAck: new Map<string, (batch: Batch, attempt: number) => Promise<void> | void>(),
  /** Batches each `collect` output with `take_queued` took with takeQueued(). */
  takenQueued: new Map<string, number>(),
  /** Called by `mutate` per event. */
  instances: new Map<string, number>(),
  /** Runs of a `crashy` input whose signal was aborted, by their attempt number. */
  heard: new Map<string, number[]>(),
  /** Called by a `numbers` input with each batch of events it emits. */
  emitted: new Map<string, (events: LogEvent[]) => void>(),
  /** Instances of a `hold` transform whose flush() was called, by their attempt number. */
  flushed: new Map<string, number[]>(),
  /** Runs of each `numbers` input (a reload that keeps one running does not run it again). */
  runs: new Map<string, number>(),
  reset(): void {
    this.runs.clear();
    this.acks.clear();
    this.received.clear();
    this.beforeAck.clear();
    this.instances.clear();
    this.takenQueued.clear();
    this.heard.clear();
    this.flushed.clear();
    this.emitted.clear();
  },
};

/** Emits `count` events numbered from 0, in batches of `batch_size`; `count: 0` runs until stopped. */
export const numbersInput = defineInput({
  type: 'numbers',
  description: 'test input',
  config: z.object({ count: z.number().int().default(100), batch_size: z.number().int().default(10) }),
  build(config, { id }) {
    return {
      async run(ctx) {
        hooks.runs.set(id, (hooks.runs.get(id) ?? 0) + 1);
        const acks: Array<[number, AckStatus]> = [];
        hooks.acks.set(id, acks);
        for (let n = 0; config.count === 0 || n < config.count; n += config.batch_size) {
          if (ctx.signal.aborted) break;
          const events: LogEvent[] = [];
          for (let i = n; i < n + config.batch_size && (config.count === 0 || i < config.count); i++) {
            events.push({ observedTimestamp: Date.now(), body: { n: i }, attributes: {}, source: { input: id } });
          }
          const first = n;
          hooks.emitted.get(id)?.(events);
          await ctx.emit(events, (status) => acks.push([first, status]));
          if (config.count === 0) await new Promise((r) => setImmediate(r));
        }
      },
    };
  },
});

/** Keeps events whose number is even (tests filtering and ack of filtered events). */
export const evenTransform = defineTransform({
  type: 'even',
  description: 'test transform',
  config: z.object({}),
  build() {
    return { map: (events) => events.filter((e) => ((e.body as { n: number }).n % 2) === 0) };
  },
});

/**
 * Tags events, throws on batches that contain the number `throw_on`, and gives the event numbered `deep_on`
 * a body nested 10,000 levels deep (too deep to copy), as a careless plugin might.
 */
export const tagTransform = defineTransform({
  type: 'tag',
  description: 'test transform',
  config: z.object({ tag: z.string().default('tagged'), throw_on: z.number().int().default(-1), deep_on: z.number().int().default(-1) }),
  build(config) {
    return {
      map(events) {
        for (const e of events) {
          const n = (e.body as { n: number }).n;
          if (n === config.throw_on) throw new Error('boom');
          if (n === config.deep_on) {
            let deep: Record<string, unknown> = { n };
            for (let i = 0; i < 10_000; i++) deep = { a: deep };
            e.body = deep as LogEvent['body'];
          }
          e.attributes[config.tag] = true;
        }
        return events;
      },
    };
  },
});

/**
 * A stream transform that holds each batch until the next one comes (as an aggregating one does), whose
 * first instance throws on the `crash_on`-th batch it sees, and the second on its `crash_again_on`-th.
 * With `crash_at_end`, the first instance throws once its input has ended, holding its last batch (with
 * `crash_at_end_always`, every instance does); the build of instance `build_fails_on` throws; the first
 * instance returns after `quit_after` batches, holding the last. Every instance fails on a batch with the
 * number `fails_on`: it throws, or with `tells_failures` tells the engine (`failedBatch`) and goes on. Its
 * flush() is recorded in `hooks.flushed`.
 */
export const holdTransform = defineTransform({
  type: 'hold',
  description: 'test transform',
  config: z.object({
    crash_on: z.number().int().default(-1),
    crash_again_on: z.number().int().default(-1),
    crash_at_end: z.boolean().default(false),
    crash_at_end_always: z.boolean().default(false),
    build_fails_on: z.number().int().default(-1),
    quit_after: z.number().int().default(-1),
    fails_on: z.number().int().default(-1),
    tells_failures: z.boolean().default(false),
  }),
  build(config, { id, failedBatch }) {
    const attempt = (hooks.instances.get(id) ?? 0) + 1;
    hooks.instances.set(id, attempt);
    if (attempt === config.build_fails_on) throw new Error('plugin cannot build');
    return {
      async *stream(batches: AsyncIterable<Batch>) {
        let held: Batch | undefined;
        let seen = 0;
        for await (const b of batches) {
          seen += 1;
          if ((attempt === 1 && seen === config.crash_on) || (attempt === 2 && seen === config.crash_again_on)) throw new Error('plugin bug');
          if (b.events.some((e) => (e.body as { n: number }).n === config.fails_on)) {
            const err = new Error(`cannot handle ${config.fails_on}`);
            if (!config.tells_failures || !failedBatch) throw err;
            const passed = failedBatch(b, err);
            if (passed) yield passed;
            continue;
          }
          if (held) yield held;
          held = b;
          // A plugin bug: the first instance stops reading (returns) after `quit_after` batches, holding one.
          if (attempt === 1 && seen === config.quit_after) return;
        }
        if ((attempt === 1 && config.crash_at_end) || config.crash_at_end_always) throw new Error('plugin bug at the end of its input');
        if (held) yield held;
      },
      flush() {
        hooks.flushed.set(id, [...(hooks.flushed.get(id) ?? []), attempt]);
        return [];
      },
    };
  },
});

/**
 * A map transform that holds back every event for its flush(), as a merge waiting for its next line does;
 * `flush` says what its flush() does: return them (`ok`), throw, or never return (`hang`). With `says_pending`
 * it tells how many it holds (`pending()`).
 */
export const holdBackTransform = defineTransform({
  type: 'hold_back',
  description: 'test transform',
  config: z.object({ flush: z.enum(['ok', 'throw', 'hang']).default('ok'), says_pending: z.boolean().default(false) }),
  build(config) {
    const held: LogEvent[] = [];
    return {
      map(events) {
        held.push(...events);
        return [];
      },
      ...(config.says_pending ? { pending: () => held.length } : {}),
      flush() {
        if (config.flush === 'throw') throw new Error(`cannot merge the ${held.length} lines held`);
        if (config.flush === 'hang') return new Promise<LogEvent[]>(() => undefined);
        return held;
      },
    };
  },
});

/** A stream transform that passes on the first event of each batch, as anomaly_detect passes on the few anomalies. */
export const firstTransform = defineTransform({
  type: 'first',
  description: 'test transform',
  config: z.object({}),
  build() {
    return {
      async *stream(batches: AsyncIterable<Batch>) {
        for await (const b of batches) yield { events: b.events.slice(0, 1), finalizers: b.finalizers };
      },
    };
  },
});

/** Records what it receives; `hooks.beforeAck` decides how it behaves. */
export const collectOutput = defineOutput({
  type: 'collect',
  description: 'test output',
  // take_queued: after each batch of the iteration, also takes those queued behind it (takeQueued()).
  // quit_after: the first instance returns from consume() after that many batches (a plugin bug).
  // failing: tells /health it cannot do its job (ctx.health.failing) with this reason, before its first batch.
  config: z.object({ take_queued: z.boolean().default(false), quit_after: z.number().int().default(-1), failing: z.string().optional() }),
  build(config, { id }) {
    const attempt = (hooks.instances.get(id) ?? 0) + 1;
    hooks.instances.set(id, attempt);
    const take = async (batch: Batch) => {
      await hooks.beforeAck.get(id)?.(batch, attempt);
      const list = hooks.received.get(id) ?? [];
      list.push(...batch.events);
      hooks.received.set(id, list);
      ackBatch(batch);
    };
    return {
      async consume(batches, ctx) {
        if (config.failing !== undefined) ctx.health?.failing(config.failing);
        let taken = 0;
        for await (const batch of batches) {
          await take(batch);
          if (attempt === 1 && ++taken === config.quit_after) return;
          if (!config.take_queued) continue;
          for (let more = batches.takeQueued!(); more; more = batches.takeQueued!()) {
            hooks.takenQueued.set(id, (hooks.takenQueued.get(id) ?? 0) + 1);
            await take(more);
          }
        }
      },
    };
  },
});

/**
 * An input whose first run leaves a listener on its signal (as a server waiting for the stop would) and
 * crashes; the runs after it wait for the stop. `hooks.heard` records which runs' signals were aborted.
 */
export const crashyInput = defineInput({
  type: 'crashy',
  description: 'test input',
  config: z.object({}),
  build(_config, { id }) {
    return {
      async run(ctx) {
        const attempt = (hooks.instances.get(id) ?? 0) + 1;
        hooks.instances.set(id, attempt);
        ctx.signal.addEventListener('abort', () => hooks.heard.set(id, [...(hooks.heard.get(id) ?? []), attempt]), { once: true });
        if (attempt === 1) throw new Error('crashed, leaving its listener behind');
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
      },
    };
  },
});

/**
 * An input connecting to an upstream: its `ready` resolves once connected, and rejects for the build numbered
 * `unready_on` (the upstream refuses); its first run crashes (the connection resets), the others emit one
 * event numbered by their build and wait for the stop.
 */
export const reconnectInput = defineInput({
  type: 'reconnect',
  description: 'test input',
  config: z.object({ unready_on: z.number().int().default(-1) }),
  build(config, { id }) {
    const attempt = (hooks.instances.get(id) ?? 0) + 1;
    hooks.instances.set(id, attempt);
    const ready = attempt === config.unready_on ? new Promise<void>((_, reject) => setTimeout(() => reject(new Error('upstream refused the connection')), 5)) : Promise.resolve();
    return {
      ready,
      async run(ctx) {
        if (attempt === 1) throw new Error('connection reset');
        await ctx.emit([{ observedTimestamp: Date.now(), body: { n: attempt }, attributes: {}, source: { input: id } }]);
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
      },
    };
  },
});

/**
 * A careless plugin input: emits, once, one batch of what `emits` says (strings, a lone event, events with
 * no body or with only a body), then a good event, and waits for the stop. `hooks.acks` gets [batch, status].
 */
export const junkInput = defineInput({
  type: 'junk',
  description: 'test input',
  config: z.object({ emits: z.enum(['strings', 'lone_event', 'mixed', 'bare']) }),
  build(config, { id }) {
    return {
      async run(ctx) {
        const acks: Array<[number, AckStatus]> = [];
        hooks.acks.set(id, acks);
        const good = (n: number): LogEvent => ({ observedTimestamp: Date.now(), body: { n }, attributes: {}, source: { input: id } });
        const junk: Record<typeof config.emits, unknown> = {
          strings: ['line 0', 'line 1'],
          lone_event: good(0),
          mixed: [good(0), { n: 1 }, null, good(3)],
          bare: [{ body: { n: 0 } }],
        };
        await ctx.emit(junk[config.emits] as LogEvent[], (status) => acks.push([0, status]));
        await ctx.emit([good(100)], (status) => acks.push([100, status]));
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
      },
    };
  },
});

/** A stream transform that yields its batches' events alone (`yield batch.events`), as a careless plugin might. */
export const yieldEventsTransform = defineTransform({
  type: 'yield_events',
  description: 'test transform',
  config: z.object({}),
  build() {
    return {
      async *stream(batches: AsyncIterable<Batch>) {
        for await (const b of batches) yield b.events as unknown as Batch;
      },
    };
  },
});

export function testRegistry(): ComponentRegistry {
  const registry = new ComponentRegistry();
  for (const def of [numbersInput, evenTransform, tagTransform, holdTransform, holdBackTransform, firstTransform, collectOutput, crashyInput, reconnectInput, junkInput, yieldEventsTransform]) registry.register(def);
  return registry;
}

export async function testPipeline(yaml: string, options: { restartBackoffMs?: number[] } = {}): Promise<{ pipeline: Pipeline; config: PipelineConfig }> {
  const config = await parseConfig(yaml, 'test.yaml', testRegistry(), { env: {} });
  const pipeline = new Pipeline(config, { logger: silentLogger, ...options });
  return { pipeline, config };
}

export function numbersOf(events: LogEvent[] | undefined): number[] {
  return (events ?? []).map((e) => (e.body as { n: number }).n);
}
