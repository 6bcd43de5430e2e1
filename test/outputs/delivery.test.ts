/** The shared delivery piece: backoff, Retry-After, rate limit, the on-disk queue, the worker's retries. */
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { appendFile, mkdtemp, readdir, readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AckStatus } from '../../src/engine/acknowledgement.js';
import { ComponentMetrics } from '../../src/engine/metrics.js';
import { Backoff, backoffDelay, parseRetryAfter } from '../../src/outputs/delivery/backoff.js';
import { DiskQueue, QueueFullError } from '../../src/outputs/delivery/disk-queue.js';
import { MAX_ANSWER_BYTES, post, type SendOutcome } from '../../src/outputs/delivery/http.js';
import { QueuedOutput } from '../../src/outputs/delivery/queued-output.js';
import { TokenBucket } from '../../src/outputs/delivery/rate-limit.js';
import { sign, verifySignature } from '../../src/outputs/delivery/signature.js';
import { DeliveryWorker, type WorkerOptions } from '../../src/outputs/delivery/worker.js';
import { until } from '../helpers/wait.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'driftlock-delivery-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('backoff', () => {
  it('grows exponentially with jitter in [d/2, d] and stops growing at the maximum', () => {
    const opts = { initialMs: 100, maxMs: 1000 };
    expect(backoffDelay(0, opts, 0)).toBe(50);
    expect(backoffDelay(0, opts, 0.999999)).toBe(100);
    expect(backoffDelay(1, opts, 0)).toBe(100);
    expect(backoffDelay(3, opts, 0.999999)).toBe(800);
    expect(backoffDelay(4, opts, 0.999999)).toBe(1000);
    expect(backoffDelay(60, opts, 0)).toBe(500);
    let r = 0;
    const randoms = [0.1, 0.9, 0.5, 0.3, 0.7, 0.2, 0.8];
    const b = new Backoff(opts, () => randoms[r++ % randoms.length]!);
    const delays = Array.from({ length: 7 }, () => b.next());
    for (const [i, d] of delays.entries()) {
      const cap = Math.min(1000, 100 * 2 ** i);
      expect(d).toBeGreaterThanOrEqual(cap / 2);
      expect(d).toBeLessThanOrEqual(cap);
    }
    expect(b.attempts).toBe(7);
  });

  it('reads Retry-After as seconds or an HTTP date, and ignores garbage', () => {
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter(' 0 ')).toBe(0);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:59:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});

describe('token bucket', () => {
  it('lets a burst through, then one per second, and a 429 pauses it', () => {
    let now = 0;
    const bucket = new TokenBucket({ perSecond: 1, burst: 3 }, () => now);
    expect([bucket.tryTake(), bucket.tryTake(), bucket.tryTake(), bucket.tryTake()]).toEqual([true, true, true, false]);
    expect(bucket.waitTime()).toBe(1000);
    now = 999;
    expect(bucket.tryTake()).toBe(false);
    now = 1000;
    expect(bucket.tryTake()).toBe(true);
    now = 100_000; // a long quiet spell refills only up to the burst
    expect([bucket.tryTake(), bucket.tryTake(), bucket.tryTake(), bucket.tryTake()]).toEqual([true, true, true, false]);
    now = 200_000;
    bucket.penalize(2000);
    expect(bucket.tryTake()).toBe(false);
    expect(bucket.waitTime()).toBe(2000);
    now = 202_000;
    expect(bucket.tryTake()).toBe(true);
  });

  it('take() waits its turn on the real clock', async () => {
    const bucket = new TokenBucket({ perSecond: 20, burst: 1 });
    const started = performance.now();
    for (let i = 0; i < 5; i++) expect(await bucket.take()).toBe(true);
    // 1 at once, then 4 at 20/s: at least ~200 ms.
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    const aborted = AbortSignal.abort();
    expect(await new TokenBucket({ perSecond: 0.001, burst: 1 }).take(aborted)).toBe(false);
  });
});

describe('signature', () => {
  it('verifies what it signs, and refuses a changed body, a wrong secret or an old timestamp', () => {
    const body = '{"id":"dl_1"}';
    const header = sign('a-long-shared-secret', body, 1_800_000_000);
    expect(header).toMatch(/^t=1800000000,v1=[0-9a-f]{64}$/);
    expect(verifySignature('a-long-shared-secret', body, header, 300, 1_800_000_010)).toBe(true);
    expect(verifySignature('a-long-shared-secret', body + ' ', header, 300, 1_800_000_010)).toBe(false);
    expect(verifySignature('another-secret-entirely', body, header, 300, 1_800_000_010)).toBe(false);
    expect(verifySignature('a-long-shared-secret', body, header, 300, 1_800_000_400)).toBe(false);
  });
});

describe('disk queue', () => {
  it('keeps what was pushed and not acked across a reopen, in order, and forgets what was acked', async () => {
    const qdir = path.join(dir, 'q');
    const q = await DiskQueue.open<{ n: number }>({ dir: qdir, maxBytes: 1 << 20 });
    await q.push([{ n: 1 }, { n: 2 }, { n: 3 }]);
    await q.push([{ n: 4 }]);
    expect(q.pending).toBe(4);
    expect(q.peek(2).map((r) => r.data.n)).toEqual([1, 2]);
    await q.ack(2);
    await q.close();
    const again = await DiskQueue.open<{ n: number }>({ dir: qdir, maxBytes: 1 << 20 });
    expect(again.peek(10).map((r) => [r.seq, r.data.n])).toEqual([[3, 3], [4, 4]]);
    await again.push([{ n: 5 }]);
    expect(again.peek(10).map((r) => r.seq)).toEqual([3, 4, 5]);
    await again.ack(3);
    await again.close();
    const empty = await DiskQueue.open<{ n: number }>({ dir: qdir, maxBytes: 1 << 20 });
    expect(empty.pending).toBe(0);
    expect(empty.next).toBe(6);
    // Fully acked segments are deleted.
    expect((await readdir(qdir)).filter((f) => f.endsWith('.log'))).toEqual([]);
    await empty.close();
  });

  it('cuts a torn last line (a crash mid-write) and keeps the whole records before it', async () => {
    const qdir = path.join(dir, 'q');
    const q = await DiskQueue.open<{ n: number }>({ dir: qdir, maxBytes: 1 << 20 });
    await q.push([{ n: 1 }, { n: 2 }]);
    await q.close();
    const seg = path.join(qdir, (await readdir(qdir)).find((f) => f.endsWith('.log'))!);
    await appendFile(seg, '{"s":3,"d":{"n"');
    const again = await DiskQueue.open<{ n: number }>({ dir: qdir, maxBytes: 1 << 20 });
    expect(again.peek(10).map((r) => r.data.n)).toEqual([1, 2]);
    expect((await readFile(seg, 'utf8')).endsWith('}\n')).toBe(true);
    await again.push([{ n: 3 }]);
    expect(again.peek(10).map((r) => r.seq)).toEqual([1, 2, 3]);
    await again.close();
  });

  it('skips a damaged record in the middle of a segment and keeps the ones after it', async () => {
    const qdir = path.join(dir, 'q');
    const q = await DiskQueue.open<{ n: number }>({ dir: qdir, maxBytes: 1 << 20 });
    await q.push([{ n: 1 }, { n: 2 }, { n: 3 }]);
    await q.close();
    const seg = path.join(qdir, (await readdir(qdir)).find((f) => f.endsWith('.log'))!);
    const lines = (await readFile(seg, 'utf8')).split('\n');
    lines[1] = lines[1]!.replace('"d"', '"\u0000d').slice(0, 7) + '#garbage';
    await writeFile(seg, lines.join('\n'));
    const again = await DiskQueue.open<{ n: number }>({ dir: qdir, maxBytes: 1 << 20 });
    expect(again.peek(10).map((r) => r.data.n)).toEqual([1, 3]);
    expect(again.corruptRecords).toBe(1);
    await again.close();
  });

  it('is bounded: a push into a full queue waits until records are acked', async () => {
    const q = await DiskQueue.open<{ pad: string }>({ dir: path.join(dir, 'q'), maxBytes: 1000 });
    await q.push([{ pad: 'x'.repeat(600) }]);
    let pushed = false;
    const second = q.push([{ pad: 'y'.repeat(600) }]).then(() => (pushed = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(pushed).toBe(false);
    expect(q.pending).toBe(1);
    await q.ack(1);
    await second;
    expect(pushed).toBe(true);
    expect(q.peek(5).map((r) => r.data.pad[0])).toEqual(['y']);
    await q.close();
  });

  it('rolls over to new segment files and deletes the old ones once acked', async () => {
    const qdir = path.join(dir, 'q');
    const q = await DiskQueue.open<{ n: number; pad: string }>({ dir: qdir, maxBytes: 1 << 20, segmentBytes: 500 });
    for (let n = 1; n <= 20; n++) await q.push([{ n, pad: 'p'.repeat(80) }]);
    const before = (await readdir(qdir)).filter((f) => f.endsWith('.log')).length;
    expect(before).toBeGreaterThan(3);
    await q.ack(15);
    const after = (await readdir(qdir)).filter((f) => f.endsWith('.log')).length;
    expect(after).toBeLessThan(before);
    await q.close();
    const again = await DiskQueue.open<{ n: number }>({ dir: qdir, maxBytes: 1 << 20, segmentBytes: 500 });
    expect(again.peek(100).map((r) => r.data.n)).toEqual([16, 17, 18, 19, 20]);
    await again.close();
  });

  it('runs each record\'s onDone with the status it was acked with', async () => {
    const q = await DiskQueue.open<number>({ dir: path.join(dir, 'q'), maxBytes: 1 << 20 });
    const seen: Array<[number, AckStatus]> = [];
    await q.push([1, 2, 3], (i) => (s) => seen.push([i, s]));
    await q.ack(1);
    await q.ack(2, 'rejected');
    expect(seen).toEqual([[0, 'delivered'], [1, 'rejected'], [2, 'rejected']]);
    await q.close();
    expect(existsSync(path.join(dir, 'q', 'acked'))).toBe(true);
  });
});

/**
 * A worker on a fresh queue that holds `records`, sending batches of one with `send` (backoff 100 ms to 1 s,
 * silent, unpushed otherwise); `options` override any of it. Not started.
 */
async function queuedWorker(records: number[], send: WorkerOptions<number>['send'], options: Partial<WorkerOptions<number>> = {}) {
  const q = await DiskQueue.open<number>({ dir: path.join(dir, 'q'), maxBytes: 1 << 20 });
  const worker = new DeliveryWorker<number>({
    queue: q,
    send,
    batch: { maxItems: 1, maxBytes: 1 << 20, lingerMs: 0 },
    backoff: { initialMs: 100, maxMs: 1000 },
    logger: pino({ level: 'silent' }),
    metrics: new ComponentMetrics('w', 'output', 'test'),
    target: 'test',
    ...options,
  });
  await q.push(records);
  return { q, worker };
}

describe('delivery worker', () => {
  const logger = pino({ level: 'silent' });

  it('retries what may succeed later, gives up on what cannot, and sends in order, batched', async () => {
    const q = await DiskQueue.open<number>({ dir: path.join(dir, 'q'), maxBytes: 1 << 20 });
    const answers: SendOutcome[] = [
      { ok: false, retry: true, reason: 'HTTP 503', status: 503 },
      { ok: false, retry: true, reason: 'ECONNRESET' },
      { ok: true, status: 200 },
      { ok: false, retry: false, reason: 'HTTP 404: no_service', status: 404 },
    ];
    const calls: number[][] = [];
    const metrics = new ComponentMetrics('w', 'output', 'test');
    const worker = new DeliveryWorker<number>({
      queue: q,
      send: async (records) => {
        calls.push(records.map((r) => r.data));
        return answers.shift() ?? { ok: true, status: 200 };
      },
      batch: { maxItems: 2, maxBytes: 1 << 20, lingerMs: 0 },
      backoff: { initialMs: 10, maxMs: 20 },
      logger,
      metrics,
      target: 'test',
    });
    await q.push([1, 2, 3, 4, 5]);
    worker.start(new AbortController().signal);
    await q.push([6]);
    while (q.pending > 0) await new Promise((r) => setTimeout(r, 5));
    await worker.finish();
    expect(calls).toEqual([[1, 2], [1, 2], [1, 2], [3, 4], [5, 6]]);
    expect(q.pending).toBe(0);
    expect(metrics.get('delivery_rejected_total')).toBe(2);
    expect(metrics.get('delivery_retries_total')).toBe(2);
    expect(metrics.get('delivered_records_total')).toBe(4);
    await q.close();
  });

  it('while finishing, stops at the first failure and leaves the rest queued on disk', async () => {
    let calls = 0;
    const { q, worker } = await queuedWorker(
      [1, 2, 3],
      async () => (++calls === 1 ? { ok: true, status: 200 } : { ok: false, retry: true, reason: 'HTTP 503', status: 503 }),
      { backoff: { initialMs: 60_000, maxMs: 60_000 } },
    );
    worker.start(new AbortController().signal);
    await new Promise((r) => setTimeout(r, 30)); // in its 60 s backoff now
    const started = performance.now();
    await worker.finish();
    expect(performance.now() - started).toBeLessThan(1000);
    expect(q.peek(5).map((r) => r.data)).toEqual([2, 3]);
    await q.close();
  });
});

describe('delivery worker: Retry-After and stopping', () => {
  it('Retry-After: 0 on every answer is retried on the backoff, not in a busy loop', async () => {
    let calls = 0;
    const { q, worker } = await queuedWorker([1], async () => {
      calls += 1;
      return { ok: false, retry: true, reason: 'HTTP 429', status: 429, retryAfterMs: 0 };
    }, { backoff: { initialMs: 100, maxMs: 100 } });
    const hard = new AbortController();
    worker.start(hard.signal);
    await new Promise((r) => setTimeout(r, 500));
    hard.abort();
    await worker.stop();
    // Backoff of 50-100 ms: at most about ten tries in 500 ms (a helper's run saw 1,129 in 3 s before).
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(calls).toBeLessThanOrEqual(12);
    await q.close();
  });

  it("while stopping, a receiver's long Retry-After is not waited for: the rest stays on disk", async () => {
    const sent: number[] = [];
    const { q, worker } = await queuedWorker([1, 2, 3], async (records) => {
      sent.push(records[0]!.data);
      return sent.length === 1 ? { ok: false, retry: true, reason: 'HTTP 429', status: 429, retryAfterMs: 120_000 } : { ok: true, status: 200 };
    }, { rateLimit: new TokenBucket({ perSecond: 1, burst: 3 }) });
    worker.start(new AbortController().signal);
    await new Promise((r) => setTimeout(r, 50)); // told to come back in 120 s
    const started = performance.now();
    await worker.finish();
    expect(performance.now() - started).toBeLessThan(1000);
    expect(sent).toEqual([1]);
    expect(q.peek(5).map((r) => r.data)).toEqual([1, 2, 3]);
    await q.close();
  });

  it('while stopping, a normal rate-limit turn is still waited for and the queue drained', async () => {
    const sent: number[] = [];
    const { q, worker } = await queuedWorker([1, 2, 3, 4], async (records) => {
      sent.push(records[0]!.data);
      return { ok: true, status: 200 };
    }, { rateLimit: new TokenBucket({ perSecond: 10, burst: 1 }) });
    worker.start(new AbortController().signal);
    await worker.finish();
    expect(sent).toEqual([1, 2, 3, 4]);
    expect(q.pending).toBe(0);
    await q.close();
  });

  it('while stopping, a refusal for good ends the drain: the rest stays on disk for a fixed config', async () => {
    const sent: number[] = [];
    const { q, worker } = await queuedWorker([1, 2, 3], async (records) => {
      sent.push(records[0]!.data);
      return { ok: false, retry: false, reason: 'HTTP 404: no_service', status: 404 };
    });
    void worker.finish(); // stopping before it starts: the drain alone
    worker.start(new AbortController().signal);
    await worker.finish();
    expect(sent).toEqual([1]);
    expect(q.peek(5).map((r) => r.data)).toEqual([2, 3]);
    await q.close();
  });

  it('a push waiting for room in a full queue gives up when told to: nothing of it is queued', async () => {
    const q = await DiskQueue.open<string>({ dir: path.join(dir, 'q'), maxBytes: 200 });
    await q.push(['x'.repeat(150)]);
    const stopping = new AbortController();
    const waiting = q.push(['y'.repeat(150)], undefined, stopping.signal);
    let settled = false;
    void waiting.catch(() => undefined).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    stopping.abort();
    await expect(waiting).rejects.toBeInstanceOf(QueueFullError);
    expect(q.peek(5).map((r) => r.data)).toEqual(['x'.repeat(150)]);
    await q.close();
  });

  it('once a push was given up on, a later one given up too is refused even when it fits: it would overtake the one refused', async () => {
    const q = await DiskQueue.open<string>({ dir: path.join(dir, 'q'), maxBytes: 250 });
    await q.push(['x'.repeat(150)]);
    const stopping = new AbortController();
    const big = q.push(['y'.repeat(150)], undefined, stopping.signal);
    await new Promise((r) => setTimeout(r, 20));
    stopping.abort();
    await expect(big).rejects.toBeInstanceOf(QueueFullError);
    // Before: queued, after the records of `big` that its input offers again at the next start.
    await expect(q.push(['z'], undefined, stopping.signal)).rejects.toBeInstanceOf(QueueFullError);
    // Without a give-up signal (no stop) a push is taken as before.
    await q.push(['w']);
    expect(q.peek(5).map((r) => r.data)).toEqual(['x'.repeat(150), 'w']);
    await q.close();
  });
});

describe('queued output: a full disk under the queue', () => {
  it.skipIf(!existsSync('/dev/full'))('waits and retries the push (health failing meanwhile) instead of crashing, then queues and delivers it once', async () => {
    const dataDir = path.join(dir, 'out');
    const metrics = new ComponentMetrics('hook', 'output', 'test');
    const health: string[] = [];
    const logs: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push((JSON.parse(line) as { msg: string }).msg) });
    const sent: string[] = [];
    const out = await QueuedOutput.open<string>({
      ctx: { id: 'hook', logger, dataDir, metrics, signal: new AbortController().signal, health: { failing: (r) => health.push(`failing: ${r}`), ok: () => health.push('ok') } },
      config: { request: { timeout: 1000 }, retry: { initial_backoff: 50, max_backoff: 100 }, queue: { max_bytes: 1 << 20 }, acknowledgements: 'queued' },
      target: 'test',
      batch: { maxItems: 10, maxBytes: 1 << 20, lingerMs: 0 },
      send: async (records) => {
        sent.push(...records.map((r) => r.data));
        return { ok: true, status: 200 };
      },
    });
    // The next segment file is /dev/full: every write to it fails with ENOSPC, as on a full disk.
    const segment = path.join(dataDir, 'queue', `${'1'.padStart(20, '0')}.log`);
    await symlink('/dev/full', segment);
    const settled: string[] = [];
    const pushing = out.enqueue(['alert 1'], [[(status) => settled.push(status)]]);
    await new Promise((r) => setTimeout(r, 300));
    expect(settled).toEqual([]);
    expect(health).toEqual(['ok', expect.stringMatching(/^failing: cannot write the on-disk queue: .*ENOSPC/)]);
    expect(metrics.get('errors_total')).toBeGreaterThanOrEqual(1);
    // Space comes back: the next try writes a real segment.
    await unlink(segment);
    await pushing;
    expect(settled).toEqual(['delivered']);
    expect(health.at(-1)).toBe('ok');
    while (sent.length === 0) await new Promise((r) => setTimeout(r, 10));
    await out.close();
    expect(sent).toEqual(['alert 1']);
    expect(logs).toContain('the on-disk queue can be written again');
  });
});

describe('queued output: the delivered mark cannot be written', () => {
  it.skipIf(!existsSync('/dev/full'))('delivers and acknowledges on, counts and logs it once, and does not take the daemon down', async () => {
    const dataDir = path.join(dir, 'out');
    const metrics = new ComponentMetrics('hook', 'output', 'test');
    const logs: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push((JSON.parse(line) as { msg: string }).msg) });
    const sent: string[] = [];
    const out = await QueuedOutput.open<string>({
      ctx: { id: 'hook', logger, dataDir, metrics, signal: new AbortController().signal },
      config: { request: { timeout: 1000 }, retry: { initial_backoff: 50, max_backoff: 100 }, queue: { max_bytes: 1 << 20 }, acknowledgements: 'delivered' },
      target: 'test',
      batch: { maxItems: 1, maxBytes: 1 << 20, lingerMs: 0 },
      send: async (records) => {
        sent.push(...records.map((r) => r.data));
        return { ok: true, status: 200 };
      },
    });
    // The mark's temp file is /dev/full: writing the mark fails with ENOSPC. Before, that rejection went
    // unhandled and the daemon exited 70.
    await symlink('/dev/full', path.join(dataDir, 'queue', 'acked.tmp'));
    const settled: string[] = [];
    await out.enqueue(['alert 1', 'alert 2'], [[(status) => settled.push(status)], [(status) => settled.push(status)]]);
    while (settled.length < 2) await new Promise((r) => setTimeout(r, 10));
    expect(sent).toEqual(['alert 1', 'alert 2']);
    expect(settled).toEqual(['delivered', 'delivered']);
    expect(metrics.get('errors_total')).toBe(2);
    expect(logs.filter((m) => m.startsWith("cannot write the on-disk queue's delivered mark"))).toHaveLength(1);
    await out.enqueue(['alert 3'], [[]]);
    while (sent.length < 3) await new Promise((r) => setTimeout(r, 10));
    await out.close();
  });
});

describe('http post: the answer', () => {
  it('reads at most MAX_ANSWER_BYTES of an answer that never ends, and says what it began with', async () => {
    // A receiver that answers 500 and then sends for ever, as fast as it is read.
    let written = 0;
    let gone = false;
    const chunk = Buffer.alloc(64 * 1024, 'e');
    const server = createServer((req, res) => {
      req.resume();
      res.writeHead(500, { 'content-type': 'text/plain' });
      const pump = () => {
        while (!gone && res.write(chunk)) written += chunk.length;
        if (!gone) res.once('drain', pump);
      };
      res.on('close', () => (gone = true));
      pump();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const outcome = await post({ url: `http://127.0.0.1:${port}/hook`, headers: {}, body: '{}', timeoutMs: 5000 });
    // Before: read until the timeout (some GB at loopback speed), and then only "no answer within 5000 ms".
    expect(outcome).toMatchObject({ ok: false, retry: true, status: 500, reason: `HTTP 500: ${'e'.repeat(200)}` });
    await until(() => gone, 'the client to close the connection of the endless 500 answer', { timeoutMs: 1_000 });
    expect(gone).toBe(true);
    expect(written).toBeLessThan(MAX_ANSWER_BYTES + 16 * 1024 * 1024);
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
});

describe('http post: the caller\'s signal', () => {
  /** Node's own set of the signals that follow `signal` (AbortSignal.any), where each of them is held by a WeakRef. */
  function followers(signal: AbortSignal): number {
    const key = Object.getOwnPropertySymbols(signal).find((s) => s.description === 'kDependantSignals');
    return key ? ((signal as unknown as Record<symbol, Set<unknown> | undefined>)[key]?.size ?? 0) : 0;
  }

  it('leaves nothing on a long-lived stop signal per request, and still ends a request at its timeout or at the stop', async () => {
    const hanging = new Set<import('node:http').ServerResponse>();
    const server = createServer((req, res) => {
      req.resume();
      if (req.url === '/hang') {
        hanging.add(res);
        return;
      }
      req.on('end', () => res.writeHead(200).end('ok'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    // As the delivery worker passes it: a signal that follows the pipeline's hard stop and the worker's own halt.
    const hardStop = new AbortController();
    const signal = AbortSignal.any([hardStop.signal, new AbortController().signal]);
    const at = followers(hardStop.signal);
    for (let i = 0; i < 300; i++) {
      expect((await post({ url: `${url}/hook`, headers: {}, body: '{}', timeoutMs: 5000, signal })).ok).toBe(true);
    }
    // Before: 300 more (one WeakRef per request, never removed on Node 20: 11 MB for 200,000 requests).
    expect(followers(hardStop.signal) - at).toBe(0);
    expect(await post({ url: `${url}/hang`, headers: {}, body: '{}', timeoutMs: 200, signal })).toMatchObject({ ok: false, retry: true, reason: 'no answer within 200 ms (timeout)' });
    const stopped = post({ url: `${url}/hang`, headers: {}, body: '{}', timeoutMs: 5000, signal });
    setTimeout(() => hardStop.abort(), 100);
    expect(await stopped).toMatchObject({ ok: false, retry: true, reason: 'aborted: the daemon is stopping' });
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
});

describe('http post: redirects', () => {
  /** A receiver on 127.0.0.1 whose answer per path is given; it records method, path, body and auth. */
  async function receiver(routes: Record<string, { status: number; location?: (port: number) => string }>) {
    const seen: Array<{ method: string; path: string; body: string; auth: string | undefined }> = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method!, path: req.url!, body, auth: req.headers.authorization });
        const route = routes[req.url!] ?? { status: 200 };
        const port = (server.address() as { port: number }).port;
        res.writeHead(route.status, route.location ? { location: route.location(port) } : {});
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    return { seen, url: (p: string) => `http://127.0.0.1:${port}${p}`, close: () => new Promise<void>((r) => server.close(() => r())) };
  }
  const request = (url: string) => ({ url, headers: { 'content-type': 'application/json', authorization: 'Bearer t0k3n' }, body: '{"alert":1}', timeoutMs: 2000 });

  it('a 301, 302 or 303 is a permanent failure naming where it points, never a bodiless GET counted as sent', async () => {
    for (const status of [301, 302, 303]) {
      const r = await receiver({ '/hook': { status, location: (port) => `http://127.0.0.1:${port}/moved/secret-path` } });
      const outcome = await post(request(r.url('/hook')));
      expect(outcome).toMatchObject({ ok: false, retry: false, status });
      expect((outcome as { reason: string }).reason).toMatch(/redirects to http:\/\/127\.0\.0\.1:\d+\/\.\.\. \(following it would turn the POST into a GET/);
      expect((outcome as { reason: string }).reason).not.toContain('secret-path');
      expect(r.seen.map((s) => s.method + ' ' + s.path)).toEqual(['POST /hook']);
      await r.close();
    }
  });

  it('a 307 without a usable Location is a permanent failure that says so, not a retry for ever', async () => {
    for (const location of [undefined, 'http://[::1']) {
      const r = await receiver({ '/hook': { status: 307, ...(location ? { location: () => location } : {}) } });
      const outcome = await post(request(r.url('/hook')));
      expect(outcome).toEqual({ ok: false, retry: false, status: 307, reason: 'HTTP 307: the receiver redirects (without a usable Location header)' });
      await r.close();
    }
  });

  it('a 307 or 308 within the origin is followed with the same POST and body; to another origin it is refused', async () => {
    const other = await receiver({});
    const r = await receiver({
      '/hook': { status: 307, location: () => '/next' },
      '/next': { status: 308, location: () => '/final' },
      '/away': { status: 307, location: () => other.url('/final') },
    });
    expect(await post(request(r.url('/hook')))).toEqual({ ok: true, status: 200 });
    expect(r.seen).toEqual([
      { method: 'POST', path: '/hook', body: '{"alert":1}', auth: 'Bearer t0k3n' },
      { method: 'POST', path: '/next', body: '{"alert":1}', auth: 'Bearer t0k3n' },
      { method: 'POST', path: '/final', body: '{"alert":1}', auth: 'Bearer t0k3n' },
    ]);
    // The credentials (token, configured headers, signature) never go to another host on a redirect.
    const away = await post(request(r.url('/away')));
    expect(away).toMatchObject({ ok: false, retry: false, status: 307 });
    expect((away as { reason: string }).reason).toMatch(/to another origin, which would get the credentials/);
    expect(other.seen).toEqual([]);
    await r.close();
    await other.close();
  });
});
