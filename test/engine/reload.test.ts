/**
 * A reload keeps the inputs that did not change running (`Pipeline.handOver`, then `adopt`): their
 * listeners and files stay open, and every event they emit reaches either the old pipeline (before the
 * hand-over) or the new one, once, in order.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HeldInputs, Pipeline } from '../../src/engine/pipeline.js';
import { parseConfig } from '../../src/config/load.js';
import { hooks, numbersOf, silentLogger, testRegistry } from '../helpers/components.js';

const registry = testRegistry();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function pipelineOf(yaml: string, adopt?: HeldInputs): Promise<Pipeline> {
  const config = await parseConfig(yaml, 'test.yaml', registry, { env: {} });
  return new Pipeline(config, { logger: silentLogger, restartBackoffMs: [10], ...(adopt ? { adopt } : {}) });
}

/** Waits until the `collect` output `id` has received at least `n` events. */
async function received(id: string, n: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if ((hooks.received.get(id)?.length ?? 0) >= n) return;
    await sleep(10);
  }
  throw new Error(`${id} received ${hooks.received.get(id)?.length ?? 0} events, not ${n}`);
}

const sentBy = (p: Pipeline, id: string) => p.metrics().find((m) => m.id === id)!.get('sent_events_total');

// An endless input (numbers, count 0) feeding the output `out_a`; the reload moves it to `out_b`.
const before = `
inputs:
  src: { type: numbers, count: 0, batch_size: 10 }
outputs:
  out_a: { type: collect, inputs: [src] }
`;
const after = `
inputs:
  src: { type: numbers, count: 0, batch_size: 10 }
transforms:
  even: { type: even, inputs: [src] }
outputs:
  out_b: { type: collect, inputs: [src] }
  out_even: { type: collect, inputs: [even] }
`;

beforeEach(() => hooks.reset());
afterEach(() => hooks.reset());

describe('a reload that keeps an input running', () => {
  it('runs it once: what it emitted before the hand-over went to the old outputs, the rest to the new ones, each event once and in order', async () => {
    const old = await pipelineOf(before);
    await old.start();
    await received('out_a', 200);
    const { drained, held } = await old.handOver(new Set(['src']));
    expect(drained).toBe(true);
    expect(held.ids).toEqual(['src']);
    // The old pipeline no longer counts it (its successor does), and drained without it.
    expect(old.metrics({ handedOver: false }).map((m) => m.id)).toEqual(['out_a']);
    const next = await pipelineOf(after, held);
    await next.start();
    await received('out_b', 300);
    expect(await next.stop()).toBe(true);
    const a = numbersOf(hooks.received.get('out_a'));
    const b = numbersOf(hooks.received.get('out_b'));
    const all = [...a, ...b];
    expect(all).toEqual(all.map((_, i) => i));
    // The new branch (a transform the reload added) gets the kept input's events too.
    expect(numbersOf(hooks.received.get('out_even'))).toEqual(b.filter((n) => n % 2 === 0));
    // Not stopped, not rebuilt: one run, whose counter goes on in the new pipeline.
    expect(hooks.runs.get('src')).toBe(1);
    expect(sentBy(next, 'src')).toBe(all.length);
    expect(hooks.acks.get('src')!.every(([, status]) => status === 'delivered')).toBe(true);
    expect(hooks.acks.get('src')).toHaveLength(all.length / 10);
  });

  it('an input not in the set is stopped with the old pipeline and built anew', async () => {
    const old = await pipelineOf(before);
    await old.start();
    await received('out_a', 50);
    const { held } = await old.handOver(new Set());
    expect(held.ids).toEqual([]);
    const next = await pipelineOf(after, held);
    await next.start();
    await received('out_b', 50);
    expect(await next.stop()).toBe(true);
    expect(hooks.runs.get('src')).toBe(2);
    // Numbered from 0 again: a new instance.
    expect(numbersOf(hooks.received.get('out_b'))[0]).toBe(0);
  });

  it('when the new pipeline cannot start, the inputs it adopted are held again and go on into the pipeline started instead: nothing lost', async () => {
    const old = await pipelineOf(before);
    await old.start();
    await received('out_a', 100);
    const { held } = await old.handOver(new Set(['src']));
    const broken = await pipelineOf(`
inputs:
  src: { type: numbers, count: 0, batch_size: 10 }
transforms:
  t: { type: hold, build_fails_on: 1, inputs: [src] }
outputs:
  out_b: { type: collect, inputs: [t] }
`, held);
    await expect(broken.start()).rejects.toThrow(/plugin cannot build/);
    await broken.stop(1_000);
    const previous = await pipelineOf(before.replace('out_a', 'out_c'), held);
    await previous.start();
    await received('out_c', 100);
    expect(await previous.stop()).toBe(true);
    expect(hooks.received.get('out_b')).toBeUndefined();
    const all = [...numbersOf(hooks.received.get('out_a')), ...numbersOf(hooks.received.get('out_c'))];
    expect(all).toEqual(all.map((_, i) => i));
    expect(hooks.runs.get('src')).toBe(1);
  });

  it('stopped while held (the daemon stops during the reload): the input stops, and the batch it waited to send is answered abandoned and counted', async () => {
    const old = await pipelineOf(before);
    await old.start();
    await received('out_a', 100);
    const { held } = await old.handOver(new Set(['src']));
    // The input is waiting at the gate with its next batch.
    await sleep(50);
    expect(await held.stop(5_000)).toBe(false);
    const acks = hooks.acks.get('src')!;
    expect(acks.at(-1)![1]).toBe('abandoned');
    expect(acks.filter(([, s]) => s === 'abandoned')).toHaveLength(1);
    const delivered = acks.filter(([, s]) => s === 'delivered').length * 10;
    expect(numbersOf(hooks.received.get('out_a'))).toHaveLength(delivered);
    const m = old.metrics().find((x) => x.id === 'src')!;
    expect(m.get('discarded_events_total')).toBe(10);
    expect(m.get('sent_events_total')).toBe(delivered);
  });
});
