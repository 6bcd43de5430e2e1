/**
 * The detector on its own, in process: `node --expose-gc dist/bench/detector.js <case>` prints one JSON
 * result line on stdout. `bench/run.ts` runs it in a child process (pinned to one core with taskset when it
 * is available) so that each case starts from a fresh heap and runs on one core.
 *
 * Cases:
 * - `json`: nginx JSON access lines, parsed once (outside the timed loop) by the same parser and flattening
 *   the `anomaly_detect` transform uses, then `Detector.observe` timed over them for one stream.
 * - `text`: nginx combined access lines as text inputs (`{ time, text }`), timed the same way.
 * - `memory`: many streams of nginx JSON, each fed enough events to fill its windows; reports the heap
 *   (plus the typed arrays outside it) they hold after a full GC, per stream, and the detector's own estimate.
 * - `streams`: nginx JSON events spread over many streams, timed: 1,000 streams taking turns (each a quiet
 *   stream: an event every 10 s of event time, all within `max_streams`), then 5,000 stream ids taking turns
 *   in `max_streams` 1,000 (a `stream_id` of too high a cardinality: every event opens a stream and evicts one).
 *
 * Settings (environment): BENCH_DETECTOR_EVENTS (events of the timed cases, default 200,000),
 * BENCH_DETECTOR_STREAMS (default 200) and BENCH_DETECTOR_STREAM_EVENTS (events per stream, default 3,000) for
 * `memory`; BENCH_DETECTOR_SPREAD_EVENTS (default 100,000) for `streams`.
 * BENCH_DETECTOR_PROFILE=<dir>: profile the timed pass of `json` and `text` (sampling every 100 µs; the
 * profiler slows it down, so its events/s are not comparable), write `<dir>/detector-<case>.cpuprofile`
 * (open it in Chrome DevTools or speedscope) and print the top functions by self time on stderr.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { hotFunctions, profile } from './cpu-profile.js';
import { Detector, type DetectorInput } from '../src/detector/index.js';
import type { LogEvent } from '../src/engine/event.js';
import { AccessLogGenerator, seededRandom } from '../src/inputs/demo.js';
import { lineParser, toDetectorInput } from '../src/transforms/anomaly-detect.js';

const START = Date.parse('2025-01-01T00:00:00Z');
/** Event-time spacing of generated lines: 100 events/s, as in the pipeline cases. */
const STEP_MS = 10;

export interface ThroughputResult {
  case: 'json' | 'text';
  events: number;
  seconds: number;
  /** User + system CPU seconds of the timed pass (process.cpuUsage: every thread of the process, GC's too). */
  cpuSeconds: number;
  anomalies: number;
  warmupEvents: number;
  memoryBytes: number;
  profiled: boolean;
  /** Events/s of every run, slowest first, when `npm run bench` ran the case more than once. */
  runs?: number[];
}

export interface StreamsResult {
  case: 'streams';
  rows: Array<{ name: string; ids: number; maxStreams: number; events: number; seconds: number; rssBytes: number }>;
}

export interface MemoryResult {
  case: 'memory' | 'memory-worst';
  streams: number;
  eventsPerStream: number;
  seconds: number;
  heapBytes: number;
  externalBytes: number;
  estimateBytes: number;
  rssBytes: number;
}

function envInt(name: string, fallback: number): number {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive integer`);
  return v;
}

/** Lines as the stdin input makes them: a raw body, observed at the line's own time. */
function rawEvents(lines: string[], firstTime: number): LogEvent[] {
  return lines.map((body, i) => ({ observedTimestamp: firstTime + i * STEP_MS, body, attributes: {}, source: { input: 'bench' } }));
}

/** nginx JSON lines to detector inputs, exactly as `anomaly_detect` (or parse(json) upstream of it) does. */
async function jsonInputs(seed: number, count: number, firstTime = START): Promise<DetectorInput[]> {
  const gen = new AccessLogGenerator(seed);
  const lines = Array.from({ length: count }, (_, i) => gen.line(firstTime + i * STEP_MS, 'nginx_json'));
  const parse = await lineParser('json');
  const events = await parse(rawEvents(lines, firstTime));
  return events.map((e) => {
    if (typeof e.body === 'string') throw new Error(`line did not parse: ${e.body.slice(0, 80)}`);
    return toDetectorInput(e, null);
  });
}

/** nginx combined lines as text inputs, as `anomaly_detect` with `format: text` sees them. */
async function textInputs(seed: number, count: number): Promise<DetectorInput[]> {
  const gen = new AccessLogGenerator(seed);
  // Each line decoded from bytes, as the line splitter of the stdin and file inputs makes it: a flat string.
  // (The generator builds lines by concatenation; reading characters of such a string is far slower.)
  const lines = Array.from({ length: count }, (_, i) => Buffer.from(gen.line(START + i * STEP_MS, 'nginx_combined')).toString('utf8'));
  const parse = await lineParser('text');
  const events = await parse(rawEvents(lines, START));
  return events.map((e) => toDetectorInput(e, null));
}

function observeAll(detector: Detector, stream: string, inputs: DetectorInput[]): number {
  let anomalies = 0;
  for (let i = 0; i < inputs.length; i++) if (detector.observe(stream, inputs[i]!)) anomalies++;
  return anomalies;
}

async function throughput(kind: 'json' | 'text'): Promise<ThroughputResult> {
  const events = envInt('BENCH_DETECTOR_EVENTS', 200_000);
  const inputs = kind === 'json' ? await jsonInputs(7, events) : await textInputs(7, events);
  // Let the JIT compile the hot paths on a throwaway detector first, so the timed pass measures steady
  // state rather than the interpreter; the timed detector still starts empty (warm-up and learning included).
  const warmupEvents = Math.min(events, 20_000);
  observeAll(new Detector(), 'warmup', inputs.slice(0, warmupEvents));
  globalThis.gc?.();
  const detector = new Detector();
  const profileDir = process.env.BENCH_DETECTOR_PROFILE;
  const started = process.hrtime.bigint();
  const cpuStarted = process.cpuUsage();
  let anomalies: number;
  if (profileDir) {
    await mkdir(profileDir, { recursive: true });
    const file = path.resolve(profileDir, `detector-${kind}.cpuprofile`);
    const run = await profile(file, () => observeAll(detector, 'nginx', inputs));
    anomalies = run.result;
    printHotFunctions(`detector alone, ${kind}: top functions by self time (${file})`, hotFunctions(run.profile, 10));
  } else {
    anomalies = observeAll(detector, 'nginx', inputs);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuStarted);
  return { case: kind, events, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, anomalies, warmupEvents, memoryBytes: detector.stream('nginx').memoryBytes, profiled: Boolean(profileDir) };
}

function printHotFunctions(title: string, hot: ReturnType<typeof hotFunctions>): void {
  const lines = [`\n${title}\n`, '| function | location | self ms | self % | total % |', '|---|---|--:|--:|--:|'];
  for (const h of hot) {
    lines.push(`| ${h.name.replace(/\|/g, '\\|')} | ${h.location} | ${h.selfMs.toFixed(0)} | ${(h.selfShare * 100).toFixed(1)} | ${(h.totalShare * 100).toFixed(1)} |`);
  }
  process.stderr.write(lines.join('\n') + '\n\n');
}

function heap(): { heap: number; external: number } {
  globalThis.gc!();
  globalThis.gc!();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, external: m.external };
}

async function memory(): Promise<MemoryResult> {
  if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc');
  const streams = envInt('BENCH_DETECTOR_STREAMS', 200);
  const perStream = envInt('BENCH_DETECTOR_STREAM_EVENTS', 3_000);
  const batch = 500;
  // Warm the parser and the detector's code up on a throwaway detector, so compiled code and the
  // parser's own allocations are not counted as stream state.
  observeAll(new Detector(), 'warmup', await jsonInputs(1, 2_000));
  const detector = new Detector({ maxStreams: Math.max(1000, streams) });
  const before = heap();
  const started = process.hrtime.bigint();
  // Streams take turns, a batch of events each, as interleaved traffic would arrive; every stream has its
  // own generator (its own clients and paths). Inputs are made batch by batch and dropped after use.
  const generators = Array.from({ length: streams }, (_, s) => new AccessLogGenerator(1000 + s));
  const parse = await lineParser('json');
  for (let done = 0; done < perStream; done += batch) {
    const n = Math.min(batch, perStream - done);
    const firstTime = START + done * STEP_MS;
    for (let s = 0; s < streams; s++) {
      const gen = generators[s]!;
      const lines = Array.from({ length: n }, (_, i) => gen.line(firstTime + i * STEP_MS, 'nginx_json'));
      const events = await parse(rawEvents(lines, firstTime));
      const id = `s${s}`;
      for (const e of events) detector.observe(id, toDetectorInput(e, null));
    }
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  generators.length = 0;
  return memoryResult('memory', detector, streams, perStream, seconds, before);
}

/** Memory growth since `before` (after a full GC) per stream, with the detector's own estimate beside it. */
function memoryResult(kind: MemoryResult['case'], detector: Detector, streams: number, eventsPerStream: number, seconds: number, before: ReturnType<typeof heap>): MemoryResult {
  const after = heap();
  let estimate = 0;
  for (const id of detector.streamIds()) estimate += detector.stream(id).memoryBytes;
  if (detector.streamCount !== streams) throw new Error(`expected ${streams} streams, found ${detector.streamCount}`);
  return {
    case: kind,
    streams,
    eventsPerStream,
    seconds,
    heapBytes: (after.heap - before.heap) / streams,
    externalBytes: (after.external - before.external) / streams,
    estimateBytes: estimate / streams,
    rssBytes: process.memoryUsage().rss,
  };
}

/** Events spread over many streams (see the file's comment), each spread timed on a fresh detector. */
async function manyStreams(): Promise<StreamsResult> {
  const events = envInt('BENCH_DETECTOR_SPREAD_EVENTS', 100_000);
  const inputs = await jsonInputs(7, events);
  const spreads = [
    { name: '1,000 quiet streams', ids: 1_000, maxStreams: 1_000, events },
    // Every event makes a stream here: a quarter of the events is plenty to time it.
    { name: '5,000 ids in max_streams 1,000', ids: 5_000, maxStreams: 1_000, events: Math.ceil(events / 4) },
  ];
  const rows: StreamsResult['rows'] = [];
  for (const spread of spreads) {
    const observe = (detector: Detector, prefix: string, count: number) => {
      for (let i = 0; i < count; i++) detector.observe(`${prefix}${i % spread.ids}`, inputs[i]!);
    };
    observe(new Detector({ maxStreams: spread.maxStreams }), 'warmup-', Math.min(spread.events, 20_000));
    globalThis.gc?.();
    const detector = new Detector({ maxStreams: spread.maxStreams });
    const started = process.hrtime.bigint();
    observe(detector, 's', spread.events);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    rows.push({ ...spread, seconds, rssBytes: process.memoryUsage().rss });
  }
  return { case: 'streams', rows };
}

/**
 * The worst case a stream can reach: every structure per stream filled. Events with 64 fields (a message of
 * twelve kinds, so that numbers are also kept per template; 8 free text with values of about a kilobyte never
 * seen twice, 20 numbers, 35 categories of ten values of 200 characters), each followed by a text line of
 * unique words.
 */
async function memoryWorst(): Promise<MemoryResult> {
  if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc');
  const streams = envInt('BENCH_DETECTOR_WORST_STREAMS', 10);
  const perStream = envInt('BENCH_DETECTOR_WORST_EVENTS', 1_000);
  const random = seededRandom(11);
  const word = () => Math.floor(random() * 2 ** 40).toString(36);
  const event = (t: number): DetectorInput => {
    const fields: Record<string, unknown> = { msg: `task ${'abcdefghijkl'[Math.floor(random() * 12)]} done` };
    for (let f = 0; f < 8; f++) fields[`text${f}`] = Array.from({ length: 120 }, word).join(random() < 0.5 ? ' ' : '/');
    for (let f = 0; f < 20; f++) fields[`num${f}`] = random() * 1000;
    for (let f = 0; f < 35; f++) fields[`cat${f}`] = `${'v'.repeat(199)}${String.fromCharCode(97 + Math.floor(random() * 10))}`;
    return { time: t, text: '', fields };
  };
  const line = (t: number): DetectorInput => ({ time: t, text: `${new Date(t).toISOString()} INFO ${Array.from({ length: 20 }, word).join(' ')}` });
  observeAll(new Detector(), 'warmup', Array.from({ length: 2_000 }, (_, i) => event(START + i)));
  const detector = new Detector({ maxStreams: Math.max(1000, streams) });
  const before = heap();
  const started = process.hrtime.bigint();
  let t = START;
  for (let s = 0; s < streams; s++) {
    for (let i = 0; i < perStream; i++) {
      t += 10;
      detector.observe(`w${s}`, event(t));
      detector.observe(`w${s}`, line(t));
    }
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return memoryResult('memory-worst', detector, streams, perStream * 2, seconds, before);
}

async function main(): Promise<void> {
  const which = process.argv[2];
  let result: ThroughputResult | MemoryResult | StreamsResult;
  if (which === 'json' || which === 'text') result = await throughput(which);
  else if (which === 'memory') result = await memory();
  else if (which === 'memory-worst') result = await memoryWorst();
  else if (which === 'streams') result = await manyStreams();
  else throw new Error(`usage: node --expose-gc dist/bench/detector.js json|text|memory|memory-worst|streams (got ${which ?? 'nothing'})`);
  process.stdout.write(JSON.stringify(result) + '\n');
}

await main();
