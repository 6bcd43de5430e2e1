import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Finalizer, type AckStatus, type Batch } from '../../src/engine/acknowledgement.js';
import type { Batches, BuildContext, ComponentContext, OutputStage } from '../../src/engine/component.js';
import type { LogEvent } from '../../src/engine/event.js';
import { ComponentMetrics } from '../../src/engine/metrics.js';
import { batchChannel, type BatchChannel } from '../helpers/batch-channel.js';
import { until } from '../helpers/wait.js';
import { encodeEvents } from '../../src/outputs/encoding.js';
import { fileOutput } from '../../src/outputs/file.js';

let dir: string;
const logger = pino({ level: 'silent' });

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'driftlock-file-'));
});

afterEach(async () => {
  vi.restoreAllMocks();
  vi.useRealTimers();
  await rm(dir, { recursive: true, force: true });
});

function makeEvent(seq: number, body: LogEvent['body'] = `line ${seq}`): LogEvent {
  return { observedTimestamp: 1_700_000_000_000 + seq, body, attributes: { seq }, source: { input: 'test' } };
}

function makeBatch(events: LogEvent[], onAck: (status: AckStatus) => void = () => undefined): Batch {
  return { events, finalizers: [new Finalizer(onAck)] };
}

async function* each(batches: Batch[]): AsyncIterable<Batch> {
  for (const b of batches) yield b;
}

/** Batches all queued at once, as the engine hands them over: iterated, or taken at once with takeQueued(). */
function queued(batches: Batch[]): Batches & { taken: number } {
  const left = [...batches];
  const source = {
    taken: 0,
    async *[Symbol.asyncIterator]() {
      for (let b = left.shift(); b; b = left.shift()) yield b;
    },
    takeQueued() {
      const b = left.shift();
      if (b) source.taken++;
      return b;
    },
  };
  return source;
}

function context() {
  const controller = new AbortController();
  const metrics = new ComponentMetrics('out', 'output', 'file');
  const ctx: ComponentContext = { id: 'out', logger, dataDir: path.join(dir, 'data'), metrics, signal: controller.signal };
  return { ctx, controller, metrics };
}

async function build(config: Record<string, unknown>): Promise<OutputStage> {
  const buildCtx: BuildContext = { id: 'out', logger, dataDir: path.join(dir, 'data'), configDir: dir };
  return fileOutput.build(fileOutput.config.parse(config), buildCtx);
}

/** Pushes a batch and resolves with its ack status. */
function pushAndWait(ch: BatchChannel, events: LogEvent[]): Promise<AckStatus> {
  return new Promise((resolve) => ch.push(makeBatch(events, resolve)));
}

function lines(text: string): string[] {
  expect(text.endsWith('\n') || text === '').toBe(true);
  return text === '' ? [] : text.slice(0, -1).split('\n');
}

/** FileHandle's prototype, to spy on write/sync of the handles the output opens. */
async function fileHandleProto(): Promise<{ write: (...args: unknown[]) => unknown; sync: () => Promise<void> }> {
  const h = await open(path.join(dir, 'probe'), 'a');
  await h.close();
  return Object.getPrototypeOf(h);
}

describe('encodeEvents', () => {
  it('writes the whole event as JSON, one line each', () => {
    const events = [makeEvent(1), makeEvent(2, { msg: 'hi', n: 1 })];
    const out = encodeEvents(events, 'json');
    expect(lines(out).map((l) => JSON.parse(l))).toEqual(events);
  });

  it('writes the body as text, structured bodies as JSON', () => {
    const out = encodeEvents([makeEvent(1, 'plain text'), makeEvent(2, { msg: 'hi' })], 'text');
    expect(out).toBe('plain text\n{"msg":"hi"}\n');
  });

  it('encodes no events as an empty string', () => {
    expect(encodeEvents([], 'json')).toBe('');
    expect(encodeEvents([], 'text')).toBe('');
  });
});

describe('file output config', () => {
  it('has defaults', () => {
    const cfg = fileOutput.config.parse({ path: 'x.log' });
    expect(cfg).toEqual({ path: 'x.log', encoding: 'json', fsync_interval: 1000 });
    expect(fileOutput.config.parse({ path: 'x.log', rotate: {} }).rotate).toEqual({ max_bytes: 100 * 1024 ** 2, max_files: 5 });
  });

  it('parses sizes and durations', () => {
    const cfg = fileOutput.config.parse({ path: 'x.log', rotate: { max_bytes: '10KiB', max_files: 2 }, fsync_interval: '250ms' });
    expect(cfg.rotate).toEqual({ max_bytes: 10 * 1024, max_files: 2 });
    expect(cfg.fsync_interval).toBe(250);
  });

  it('rejects a missing path, max_files below 1, unknown rotate keys and bad encodings', () => {
    expect(fileOutput.config.safeParse({}).success).toBe(false);
    expect(fileOutput.config.safeParse({ path: 'x', rotate: { max_files: 0 } }).success).toBe(false);
    expect(fileOutput.config.safeParse({ path: 'x', rotate: { max_file: 3 } }).success).toBe(false);
    expect(fileOutput.config.safeParse({ path: 'x', encoding: 'xml' }).success).toBe(false);
  });
});

describe('file output', () => {
  it('writes JSON lines in order and acknowledges every batch', async () => {
    const file = path.join(dir, 'out.jsonl');
    const out = await build({ path: file });
    const { ctx, metrics } = context();
    const acks: AckStatus[] = [];
    const events = Array.from({ length: 30 }, (_, i) => makeEvent(i, i % 2 ? { msg: `m${i}`, nested: { a: [1, 'b'] } } : `line ${i}`));
    const batches = [0, 10, 20].map((start) => makeBatch(events.slice(start, start + 10), (s) => acks.push(s)));
    await out.consume(each(batches), ctx);
    const written = lines(await readFile(file, 'utf8')).map((l) => JSON.parse(l));
    expect(written).toEqual(events);
    expect(acks).toEqual(['delivered', 'delivered', 'delivered']);
    expect(metrics.get('errors_total')).toBe(0);
  });

  it('writes text lines with encoding: text', async () => {
    const file = path.join(dir, 'out.log');
    const out = await build({ path: file, encoding: 'text' });
    await out.consume(each([makeBatch([makeEvent(1, 'GET /health 200'), makeEvent(2, { level: 'warn' })])]), context().ctx);
    expect(await readFile(file, 'utf8')).toBe('GET /health 200\n{"level":"warn"}\n');
  });

  it('creates missing parent folders', async () => {
    const file = path.join(dir, 'a', 'b', 'c', 'out.log');
    const out = await build({ path: file, encoding: 'text' });
    await out.consume(each([makeBatch([makeEvent(1)])]), context().ctx);
    expect(await readFile(file, 'utf8')).toBe('line 1\n');
  });

  it('resolves a relative path against the working directory', async () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const out = await build({ path: 'rel/out.log', encoding: 'text' });
      await out.consume(each([makeBatch([makeEvent(1)])]), context().ctx);
    } finally {
      process.chdir(cwd);
    }
    expect(await readFile(path.join(dir, 'rel', 'out.log'), 'utf8')).toBe('line 1\n');
  });

  it('appends to an existing file', async () => {
    const file = path.join(dir, 'out.log');
    await writeFile(file, 'existing line\n');
    const out = await build({ path: file, encoding: 'text' });
    await out.consume(each([makeBatch([makeEvent(1), makeEvent(2)])]), context().ctx);
    await out.consume(each([makeBatch([makeEvent(3)])]), context().ctx);
    expect(await readFile(file, 'utf8')).toBe('existing line\nline 1\nline 2\nline 3\n');
  });

  it('a file that ends inside a line (a write cut short at the last stop) gets a newline before the next record, and says so', async () => {
    const file = path.join(dir, 'out.jsonl');
    await writeFile(file, '{"seq":1}\n{"seq":2,"body":"cut sho');
    const out = await build({ path: file });
    const said: Array<Record<string, unknown>> = [];
    const { ctx } = context();
    ctx.logger = pino({ level: 'info' }, { write: (line: string) => said.push(JSON.parse(line) as Record<string, unknown>) });
    await out.consume(each([makeBatch([makeEvent(3)])]), ctx);
    const text = await readFile(file, 'utf8');
    const written = lines(text);
    expect(written.slice(0, 2)).toEqual(['{"seq":1}', '{"seq":2,"body":"cut sho']);
    expect(JSON.parse(written[2]!).attributes.seq).toBe(3);
    expect(said.find((l) => String(l.msg).startsWith('the output file ended inside a line'))).toMatchObject({ level: 40, size: 34 });
    // A file that ends with a newline is left as it is.
    await out.consume(each([makeBatch([makeEvent(4)])]), context().ctx);
    expect(lines(await readFile(file, 'utf8'))).toHaveLength(4);
  });

  it('writes each batch with a single write call', async () => {
    const proto = await fileHandleProto();
    const write = vi.spyOn(proto, 'write');
    const file = path.join(dir, 'out.jsonl');
    const out = await build({ path: file });
    const batches = Array.from({ length: 20 }, (_, b) => makeBatch(Array.from({ length: 500 }, (_, i) => makeEvent(b * 500 + i))));
    await out.consume(each(batches), context().ctx);
    expect(write).toHaveBeenCalledTimes(20);
    const written = lines(await readFile(file, 'utf8'));
    expect(written).toHaveLength(10_000);
    expect(JSON.parse(written[9_999]!).attributes.seq).toBe(9_999);
  });

  it('writes the batches queued behind one (takeQueued) with it in one write, acknowledging each once written', async () => {
    const proto = await fileHandleProto();
    const write = vi.spyOn(proto, 'write');
    const file = path.join(dir, 'out.jsonl');
    const out = await build({ path: file });
    const statuses: AckStatus[] = [];
    // 20 batches of 500 events (about 90 bytes a line): about 0.9 MB, under the 1 MiB a write gathers.
    const batches = Array.from({ length: 20 }, (_, b) => makeBatch(Array.from({ length: 500 }, (_, i) => makeEvent(b * 500 + i)), (s) => statuses.push(s)));
    const source = queued(batches);
    await out.consume(source, context().ctx);
    expect(source.taken).toBe(19);
    expect(write).toHaveBeenCalledTimes(1);
    expect(statuses).toEqual(Array(20).fill('delivered'));
    expect(await readFile(file, 'utf8')).toBe(batches.map((b) => encodeEvents(b.events, 'json')).join(''));
  });

  it('gathers about 1 MiB a write at most: a longer backlog goes in several writes, in order', async () => {
    const proto = await fileHandleProto();
    const write = vi.spyOn(proto, 'write');
    const file = path.join(dir, 'out.log');
    const out = await build({ path: file, encoding: 'text' });
    // 64 batches of 64 KiB of text: 4 MiB, in writes of 1 MiB.
    const batches = Array.from({ length: 64 }, (_, b) => makeBatch([makeEvent(b, `${String(b).padStart(2, '0')}${'x'.repeat(65_533)}`)]));
    await out.consume(queued(batches), context().ctx);
    expect(write).toHaveBeenCalledTimes(4);
    const written = lines(await readFile(file, 'utf8'));
    expect(written.map((l) => Number(l.slice(0, 2)))).toEqual(Array.from({ length: 64 }, (_, i) => i));
  });

  it('rejects a queued batch it cannot encode on its own; the others of the write are delivered', async () => {
    const file = path.join(dir, 'out.jsonl');
    const out = await build({ path: file });
    const statuses: Array<[number, AckStatus]> = [];
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const batches = [0, 1, 2].map((b) => makeBatch([makeEvent(b, b === 1 ? (cyclic as LogEvent['body']) : `line ${b}`)], (s) => statuses.push([b, s])));
    const { ctx, metrics } = context();
    await out.consume(queued(batches), ctx);
    expect(statuses.sort()).toEqual([[0, 'delivered'], [1, 'rejected'], [2, 'delivered']]);
    expect(metrics.get('errors_total')).toBe(1);
    expect(lines(await readFile(file, 'utf8')).map((l) => JSON.parse(l).body)).toEqual(['line 0', 'line 2']);
  });

  it('rejects a batch whose event in the middle cannot be encoded: none of its lines are written, the next batch\'s are', async () => {
    const file = path.join(dir, 'out.jsonl');
    const out = await build({ path: file });
    const statuses: Array<[number, AckStatus]> = [];
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const batches = [0, 1, 2].map((b) => makeBatch([makeEvent(b * 10), makeEvent(b * 10 + 1, b === 1 ? (cyclic as LogEvent['body']) : 'x'), makeEvent(b * 10 + 2)], (s) => statuses.push([b, s])));
    await out.consume(queued(batches), context().ctx);
    expect(statuses.sort()).toEqual([[0, 'delivered'], [1, 'rejected'], [2, 'delivered']]);
    expect(lines(await readFile(file, 'utf8')).map((l) => JSON.parse(l).attributes.seq)).toEqual([0, 1, 2, 20, 21, 22]);
  });

  it('writes the bytes of the encoded lines, whatever their characters and however large a batch, before and after one', async () => {
    const file = path.join(dir, 'out.log');
    const out = await build({ path: file, encoding: 'text' });
    const bodies = ['ascii', 'ünïcödé ✓ 🚀', 'lone \uD800 surrogate and \uDC00', '\u0000 nul', 'ключ'.repeat(1000)];
    const batches = [
      makeBatch(bodies.map((b, i) => makeEvent(i, b))),
      // 6 MiB in one batch: past what the output keeps between writes.
      makeBatch(Array.from({ length: 96 }, (_, i) => makeEvent(i, `${'é'.repeat(32_000)}${i}`))),
      makeBatch(bodies.map((b, i) => makeEvent(i, { text: b }))),
    ];
    const expected = Buffer.concat(batches.map((b) => Buffer.from(encodeEvents(b.events, 'text'))));
    const ch = batchChannel();
    const done = out.consume(ch, context().ctx);
    for (const b of batches) await pushAndWait(ch, b.events);
    ch.end();
    await done;
    expect((await readFile(file)).equals(expected)).toBe(true);
  });

  it('with rotation writes one batch a write, so that files are cut between the same batches', async () => {
    const proto = await fileHandleProto();
    const write = vi.spyOn(proto, 'write');
    const file = path.join(dir, 'out.log');
    const out = await build({ path: file, encoding: 'text', rotate: { max_bytes: 100, max_files: 2 } });
    const batches = Array.from({ length: 8 }, (_, b) => makeBatch([0, 1, 2].map((i) => makeEvent(b * 3 + i, `line ${String(b * 3 + i).padStart(2, '0')}`))));
    const source = queued(batches);
    await out.consume(source, context().ctx);
    expect(source.taken).toBe(0);
    expect(write).toHaveBeenCalledTimes(8);
    expect(lines(await readFile(`${file}.1`, 'utf8'))).toHaveLength(12);
    expect(lines(await readFile(file, 'utf8'))).toHaveLength(12);
  });

  it('rotates by size, keeps max_files rotated files, and never splits or loses a line', async () => {
    const file = path.join(dir, 'out.log');
    const out = await build({ path: file, encoding: 'text', rotate: { max_bytes: 100, max_files: 2 } });
    // 3 lines of 8 bytes ("line 00\n") per batch: 24 bytes, so 4 batches (96 bytes) fit in a file.
    const batches = Array.from({ length: 20 }, (_, b) => makeBatch([0, 1, 2].map((i) => makeEvent(b * 3 + i, `line ${String(b * 3 + i).padStart(2, '0')}`))));
    await out.consume(each(batches), context().ctx);

    expect((await readdir(dir)).sort()).toEqual(['out.log', 'out.log.1', 'out.log.2']);
    const seqs: number[] = [];
    for (const name of ['out.log.2', 'out.log.1', 'out.log']) {
      const text = await readFile(path.join(dir, name), 'utf8');
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(100);
      const fileSeqs = lines(text).map((l) => {
        expect(l).toMatch(/^line \d\d$/);
        return Number(l.slice(5));
      });
      expect(fileSeqs[0]! % 3).toBe(0); // every file starts at a batch boundary
      seqs.push(...fileSeqs);
    }
    // 20 batches, 4 per file: 5 files' worth; the 3 newest remain, contiguous and ending at the last line.
    expect(seqs).toEqual(Array.from({ length: 36 }, (_, i) => 24 + i));
  });

  it('rotates a pre-existing file that is already too large before writing', async () => {
    const file = path.join(dir, 'out.log');
    await writeFile(file, 'x'.repeat(200) + '\n');
    const out = await build({ path: file, encoding: 'text', rotate: { max_bytes: 100, max_files: 1 } });
    await out.consume(each([makeBatch([makeEvent(1)])]), context().ctx);
    expect(await readFile(file, 'utf8')).toBe('line 1\n');
    expect(await readFile(`${file}.1`, 'utf8')).toBe('x'.repeat(200) + '\n');
  });

  for (const fsync_interval of ['0', '1s']) {
    it(`acknowledges a batch only once its lines are in the file (fsync_interval ${fsync_interval})`, async () => {
      const file = path.join(dir, 'out.log');
      const out = await build({ path: file, encoding: 'text', fsync_interval });
      const checks: boolean[] = [];
      const batches = Array.from({ length: 10 }, (_, b) => {
        const events = Array.from({ length: 50 }, (_, i) => makeEvent(b * 50 + i));
        return makeBatch(events, (status) => {
          const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
          checks.push(status === 'delivered' && text.endsWith(encodeEvents(events, 'text')));
        });
      });
      await out.consume(each(batches), context().ctx);
      expect(checks).toEqual(Array(10).fill(true));
    });
  }

  it('fsyncs after every write with fsync_interval 0', async () => {
    const sync = vi.spyOn(await fileHandleProto(), 'sync');
    const out = await build({ path: path.join(dir, 'out.log'), fsync_interval: 0 });
    const acked: number[] = [];
    const batches = Array.from({ length: 5 }, (_, b) => makeBatch([makeEvent(b)], () => acked.push(sync.mock.calls.length)));
    await out.consume(each(batches), context().ctx);
    expect(acked).toEqual([1, 2, 3, 4, 5]); // each ack came after its own fsync
  });

  it('fsyncs at most once per interval, when idle, and on close', async () => {
    const sync = vi.spyOn(await fileHandleProto(), 'sync');
    const out = await build({ path: path.join(dir, 'out.log'), fsync_interval: '50ms' });
    const ch = batchChannel();
    const done = out.consume(ch, context().ctx);
    for (let i = 0; i < 20; i++) await pushAndWait(ch, [makeEvent(i)]);
    const afterWrites = sync.mock.calls.length;
    await until(() => sync.mock.calls.length > afterWrites, 'an fsync by the idle timer', { timeoutMs: 5_000 }); // the timer flushes what is left while idle
    const afterIdle = sync.mock.calls.length;
    await new Promise((r) => setTimeout(r, 150));
    expect(sync.mock.calls.length).toBe(afterIdle); // nothing new written, nothing to fsync
    await pushAndWait(ch, [makeEvent(99)]);
    ch.end();
    await done;
    expect(sync.mock.calls.length).toBe(afterIdle + 1); // the final fsync on close
  });

  it('leaves no timer behind when the batches end, and never keeps the process alive', async () => {
    const created: NodeJS.Timeout[] = [];
    const realSetInterval = globalThis.setInterval;
    vi.spyOn(globalThis, 'setInterval').mockImplementation(((fn: () => void, ms: number) => {
      const t = realSetInterval(fn, ms);
      created.push(t);
      return t;
    }) as typeof setInterval);
    const cleared = vi.spyOn(globalThis, 'clearInterval');
    const out = await build({ path: path.join(dir, 'out.log'), fsync_interval: '10ms' });
    await out.consume(each([makeBatch([makeEvent(1)])]), context().ctx);
    expect(created).toHaveLength(1);
    expect(created[0]!.hasRef()).toBe(false);
    expect(cleared).toHaveBeenCalledWith(created[0]);
  });

  it('retries a failed write until it succeeds', async () => {
    const blocker = path.join(dir, 'blocker');
    await writeFile(blocker, 'a regular file, not a folder');
    const out = await build({ path: path.join(blocker, 'out.log'), encoding: 'text' });
    const { ctx, metrics } = context();
    const statuses: AckStatus[] = [];
    const done = out.consume(each([makeBatch([makeEvent(1)], (s) => statuses.push(s))]), ctx);
    await until(() => metrics.get('errors_total') >= 2, '2 failed writes on errors_total', { timeoutMs: 5_000 });
    expect(statuses).toEqual([]);
    await unlink(blocker); // the parent can now be created
    await done;
    expect(statuses).toEqual(['delivered']);
    expect(await readFile(path.join(blocker, 'out.log'), 'utf8')).toBe('line 1\n');
  });

  it('a path whose parent cannot hold folders (under /proc) is an error it retries and counts, not a hang', async () => {
    // Node's mkdir(..., { recursive: true }) never settled there, spinning at 100% CPU: no error, no log, a
    // healthy /health, and a stop that waited for the shutdown timeout.
    const out = await build({ path: `/proc/driftlock-test-${process.pid}/out.log`, encoding: 'text' });
    const { ctx, metrics } = context();
    const controller = new AbortController();
    const statuses: AckStatus[] = [];
    const done = out.consume(each([makeBatch([makeEvent(1)], (s) => statuses.push(s))]), { ...ctx, signal: controller.signal });
    await until(() => metrics.get('errors_total') >= 2, '2 failed writes on errors_total', { timeoutMs: 5_000 });
    controller.abort();
    await done;
    expect(statuses).toEqual(['abandoned']);
  });

  it('finishes a half-written batch after an error instead of writing it twice', async () => {
    const proto = await fileHandleProto();
    const realWrite = proto.write;
    let calls = 0;
    vi.spyOn(proto, 'write').mockImplementation(function (this: unknown, buf: unknown, offset: unknown, length: unknown) {
      calls += 1;
      if (calls === 1) return realWrite.call(this, buf, offset, Math.floor((length as number) / 2)); // a short write
      if (calls === 2) return Promise.reject(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }));
      return realWrite.call(this, buf, offset, length);
    });
    const file = path.join(dir, 'out.log');
    const out = await build({ path: file, encoding: 'text' });
    const { ctx, metrics } = context();
    const statuses: AckStatus[] = [];
    const events = Array.from({ length: 10 }, (_, i) => makeEvent(i));
    await out.consume(each([makeBatch(events, (s) => statuses.push(s))]), ctx);
    expect(statuses).toEqual(['delivered']);
    expect(metrics.get('errors_total')).toBe(1);
    expect(await readFile(file, 'utf8')).toBe(encodeEvents(events, 'text'));
  });

  it('abandons the batch it cannot write when the signal aborts, without throwing', async () => {
    const blocker = path.join(dir, 'blocker');
    await writeFile(blocker, 'a regular file, not a folder');
    const out = await build({ path: path.join(blocker, 'out.log') });
    const { ctx, controller, metrics } = context();
    const said: Array<Record<string, unknown>> = [];
    ctx.logger = pino({ level: 'error' }, { write: (line: string) => said.push(JSON.parse(line) as Record<string, unknown>) });
    const statuses: AckStatus[] = [];
    const done = out.consume(each([makeBatch([makeEvent(1)], (s) => statuses.push(s)), makeBatch([makeEvent(2)], (s) => statuses.push(s))]), ctx);
    await until(() => metrics.get('errors_total') >= 2, '2 failed writes on errors_total', { timeoutMs: 5_000 });
    expect(statuses).toEqual([]);
    // In words, not a bare "ENOTDIR: not a directory, mkdir".
    expect((said[0]!.err as { message: string }).message).toMatch(new RegExp(`^cannot make the folder of ${blocker}/out\\.log: ${blocker} is a file, not a folder \\(EEXIST\\)`));
    controller.abort();
    await expect(done).resolves.toBeUndefined();
    // The first batch is abandoned (not refused for good: its input may offer it again); the second was
    // never taken, the engine abandons it.
    expect(statuses).toEqual(['abandoned']);
  });

  it('reopens the file after it is deleted', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const file = path.join(dir, 'out.log');
    const out = await build({ path: file, encoding: 'text' });
    const ch = batchChannel();
    const done = out.consume(ch, context().ctx);
    expect(await pushAndWait(ch, [makeEvent(1)])).toBe('delivered');
    await unlink(file);
    vi.setSystemTime(Date.now() + 1500);
    expect(await pushAndWait(ch, [makeEvent(2)])).toBe('delivered');
    ch.end();
    await done;
    expect(await readFile(file, 'utf8')).toBe('line 2\n');
  });

  it('reopens the file after it is moved away and recreated (logrotate create)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const file = path.join(dir, 'out.log');
    const out = await build({ path: file, encoding: 'text' });
    const ch = batchChannel();
    const done = out.consume(ch, context().ctx);
    await pushAndWait(ch, [makeEvent(1)]);
    await rename(file, `${file}.moved`);
    await writeFile(file, 'created by logrotate\n');
    vi.setSystemTime(Date.now() + 1500);
    await pushAndWait(ch, [makeEvent(2)]);
    vi.setSystemTime(Date.now() + 1500);
    await pushAndWait(ch, [makeEvent(3)]);
    ch.end();
    await done;
    expect(await readFile(`${file}.moved`, 'utf8')).toBe('line 1\n');
    expect(await readFile(file, 'utf8')).toBe('created by logrotate\nline 2\nline 3\n');
  });

  it('checks for a moved file at most once per second', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const file = path.join(dir, 'out.log');
    const out = await build({ path: file, encoding: 'text' });
    const ch = batchChannel();
    const done = out.consume(ch, context().ctx);
    await pushAndWait(ch, [makeEvent(1)]);
    await rename(file, `${file}.moved`);
    await pushAndWait(ch, [makeEvent(2)]); // within the second: still the moved file
    vi.setSystemTime(Date.now() + 1500);
    await pushAndWait(ch, [makeEvent(3)]);
    ch.end();
    await done;
    expect(await readFile(`${file}.moved`, 'utf8')).toBe('line 1\nline 2\n');
    expect(await readFile(file, 'utf8')).toBe('line 3\n');
  });

  it('recreates a deleted parent folder when reopening', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const sub = path.join(dir, 'logs');
    await mkdir(sub);
    const file = path.join(sub, 'out.log');
    const out = await build({ path: file, encoding: 'text' });
    const ch = batchChannel();
    const done = out.consume(ch, context().ctx);
    await pushAndWait(ch, [makeEvent(1)]);
    await rm(sub, { recursive: true });
    vi.setSystemTime(Date.now() + 1500);
    expect(await pushAndWait(ch, [makeEvent(2)])).toBe('delivered');
    ch.end();
    await done;
    expect(await readFile(file, 'utf8')).toBe('line 2\n');
  });
});
