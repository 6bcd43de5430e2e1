/** The anomaly_detect transform's own line reading (format: auto), apart from the detector. */
import { existsSync } from 'node:fs';
import { readFile, symlink, unlink } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Finalizer, type Batch } from '../../src/engine/acknowledgement.js';
import type { LogEvent } from '../../src/engine/event.js';
import { ComponentMetrics } from '../../src/engine/metrics.js';
import { BACK_GATHER_MS, SILENCE_CHECK_MS, anomalyDetectConfig, anomalyDetectTransform, detectorOptions, groupSilences, lineParser, missingFieldHint, resolveStreamId, silenceEvent, streamIdProblem, toDetectorInput, watchedFields } from '../../src/transforms/anomaly-detect.js';
import type { Anomaly } from '../../src/detector/index.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/wait.js';

const event = (body: string, attributes: LogEvent['attributes'] = {}): LogEvent => ({ observedTimestamp: 0, body, attributes, source: { input: 't' } });

describe('anomaly_detect format: auto', () => {
  it('parses JSON lines, leaves a line that only looks like JSON unmarked, and keeps an upstream parse.error', async () => {
    const parse = await lineParser('auto');
    const upstream = event('{bad json', { 'parse.error': 'json: invalid JSON: Unexpected token' });
    const [json, looksLike, marked, text] = await parse([event('{"a":1}'), event('{not json'), upstream, event('plain text')]);
    expect(json!.body).toEqual({ a: 1 });
    expect(looksLike!.attributes).toEqual({});
    // Before, the guess deleted the mark the parse transform had set.
    expect(marked!.attributes['parse.error']).toBe('json: invalid JSON: Unexpected token');
    expect(text!.body).toBe('plain text');
  });
});

describe('anomaly_detect threshold', () => {
  it('takes 0 to 0.9999 and refuses 1, which no confidence reaches (it would never flag)', () => {
    expect(anomalyDetectConfig.safeParse({ stream_id: 's', threshold: 0.9999 }).success).toBe(true);
    expect(anomalyDetectConfig.safeParse({ stream_id: 's', threshold: 0 }).success).toBe(true);
    const one = anomalyDetectConfig.safeParse({ stream_id: 's', threshold: 1 });
    expect(one.success).toBe(false);
    expect(one.error?.issues[0]?.path).toEqual(['threshold']);
  });
});

describe('anomaly_detect fields', () => {
  const event = (body: LogEvent['body']): LogEvent => ({ observedTimestamp: 0, body, attributes: {}, source: { input: 'test' } });
  const body = {
    msg: 'hello',
    latency_ms: 12,
    http: { method: 'GET', request: { headers: { 'user-agent': 'curl/8' } } },
    kubernetes: { labels: { app: 'api', tier: 'web' }, pod: 'api-1' },
    'service.name': 'checkout',
    tags: ['a', 'b'],
  };

  it('auto: a body\'s own fields and those up to three objects down, dotted; arrays and deeper objects skipped', () => {
    // Before: one object down only (http.method, kubernetes.pod); ECS's http.response.status_code was never read.
    expect(toDetectorInput(event({ ...body, deep: { a: { b: { c: { d: 'too far' }, c2: 'kept' } } } }), null).fields).toEqual({
      msg: 'hello', latency_ms: 12, 'http.method': 'GET', 'http.request.headers.user-agent': 'curl/8',
      'kubernetes.labels.app': 'api', 'kubernetes.labels.tier': 'web', 'kubernetes.pod': 'api-1', 'service.name': 'checkout', 'deep.a.b.c2': 'kept',
    });
  });

  it('keeps a field named __proto__ (JSON makes it an own property) when the body is flattened', () => {
    const nested = JSON.parse('{"message":"login ok","__proto__":"alice","meta":{"x":1}}') as LogEvent['body'];
    const fields = toDetectorInput(event(nested), null).fields!;
    expect(Object.keys(fields)).toEqual(['message', '__proto__', 'meta.x']);
    expect(Object.getOwnPropertyDescriptor(fields, '__proto__')?.value).toBe('alice');
    expect(Object.getPrototypeOf(fields)).toBe(Object.prototype);
  });

  it('leaves out fields named like a secret with auto, and watches them when the list names them', () => {
    // The detector leaves them out by name (see its tests); the transform says when it must not.
    expect(detectorOptions(anomalyDetectConfig.parse({ stream_id: 's' })).watchSecretFields).toBeUndefined();
    expect(detectorOptions(anomalyDetectConfig.parse({ stream_id: 's', fields: ['user', 'password'] })).watchSecretFields).toBe(true);
  });

  it('a watch list reads exactly the watched names, at any depth, and keys that hold dots themselves', () => {
    const watch = watchedFields(['kubernetes.labels.app', 'http.request.headers.user-agent', 'latency_ms', 'service.name', 'missing.field']);
    expect(toDetectorInput(event(body), watch).fields).toEqual({
      'kubernetes.labels.app': 'api',
      'http.request.headers.user-agent': 'curl/8',
      latency_ms: 12,
      'service.name': 'checkout',
    });
  });
});

describe('anomaly_detect watching attributes (fields: [attributes.NAME])', () => {
  const otlpEvent = (body: LogEvent['body'], attributes: LogEvent['attributes']): LogEvent => ({ observedTimestamp: 0, body, attributes, source: { input: 'otlp' } });

  it('judges a text body as the field message beside the watched attributes the event has (values only, keys as set, dots and all)', () => {
    const watch = watchedFields(['attributes.http.response.status_code', 'attributes.exception.type', 'attributes.db', 'attributes.absent']);
    const attributes = { 'http.response.status_code': 503, 'exception.type': 'java.net.SocketTimeoutException', db: { system: 'postgresql' }, 'otlp.scope.name': 'io.opentelemetry.jdbc' };
    expect(toDetectorInput(otlpEvent('request handled', attributes), watch)).toMatchObject({
      text: '',
      fields: { message: 'request handled', 'attributes.http.response.status_code': 503, 'attributes.exception.type': 'java.net.SocketTimeoutException' },
    });
    expect(Object.keys(toDetectorInput(otlpEvent('request handled', attributes), watch).fields!)).toHaveLength(3);
    // An event without any of them is structured too: one stream is not judged two ways.
    expect(toDetectorInput(otlpEvent('request handled', {}), watch).fields).toEqual({ message: 'request handled' });
  });

  it('refuses names that watch nothing: attributes or attributes. alone, a name with an empty part', () => {
    for (const name of ['attributes', 'attributes.', 'attributes..type', 'http..status', '.status', 'status.']) {
      const r = anomalyDetectConfig.safeParse({ stream_id: 's', fields: ['status', name] });
      expect(r.success, name).toBe(false);
      expect(r.error?.issues[0]?.path).toEqual(['fields', 1]);
      expect(r.error?.issues[0]?.message).toMatch(name.startsWith('attributes') && !name.includes('..') ? /names no field: .* attributes\.NAME/ : /has an empty part/);
    }
    expect(anomalyDetectConfig.safeParse({ stream_id: 's', fields: ['attributes.exception.type', 'kubernetes.labels.app'] }).success).toBe(true);
  });

  it('reads the body\'s watched fields and the attributes of a structured event; without attributes watched, a text body stays text', () => {
    const watch = watchedFields(['status', 'attributes.tenant']);
    expect(toDetectorInput(otlpEvent({ status: 200, path: '/x' }, { tenant: 'acme' }), watch).fields).toEqual({ status: 200, 'attributes.tenant': 'acme' });
    // body.NAME is the body's field, as in stream_id: a body with an attributes object of its own (OpenTelemetry's
    // JSON file exporter) is watched so; attributes.NAME stays the event's.
    const fileExport = { body: 'login failed', attributes: { user: 'bob' } };
    expect(toDetectorInput(otlpEvent(fileExport, { user: 'event-level' }), watchedFields(['body.attributes.user', 'body.body'])).fields).toEqual({ 'attributes.user': 'bob', body: 'login failed' });
    expect(anomalyDetectConfig.safeParse({ fields: ['body.'] }).success).toBe(false);
    const input = toDetectorInput(otlpEvent('plain line', { tenant: 'acme' }), watchedFields(['status']));
    expect(input.fields).toBeUndefined();
    expect(input.text).toBe('plain line');
  });
});

describe('anomaly_detect on an event the detector fails on', () => {
  it('passes that event on unscored, scores the rest of the batch, and counts the error', async () => {
    const dataDir = await tempDir('driftlock-ad-');
    const metrics = new ComponentMetrics('detect', 'transform', 'anomaly_detect');
    const config = anomalyDetectConfig.parse({ stream_id: '{body.service}', emit: 'all', snapshot_interval: '0s' });
    const stage = await anomalyDetectTransform.build(config, { id: 'detect', logger: pino({ level: 'silent' }), dataDir, configDir: dataDir, metrics });
    const ok = (service: string, msg: string): LogEvent => ({ observedTimestamp: 0, timestamp: 1_735_732_800_000, body: { service, msg }, attributes: {}, source: { input: 't' } });
    // A body a plugin built with a getter that throws: reading its fields fails inside the detector's input.
    const broken: LogEvent = { observedTimestamp: 0, body: Object.defineProperty({ service: 'c' }, 'msg', { enumerable: true, get: () => { throw new Error('boom'); } }), attributes: {}, source: { input: 't' } };
    const out = await (stage as { map(e: LogEvent[]): Promise<LogEvent[]> }).map([ok('a', 'hello'), broken, ok('b', 'hello')]);
    expect(out).toHaveLength(3);
    expect(metrics.get('errors_total')).toBe(1);
    // Both good events reached the detector (one stream each): the batch was not given up at the broken one.
    expect(metrics.get('detector_streams')).toBe(2);
  });
});

describe('anomaly_detect stream_id', () => {
  const event = (body: LogEvent['body'], attributes: LogEvent['attributes'] = {}): LogEvent => ({ observedTimestamp: 0, body, attributes, source: { input: 'web', file: '/var/log/a.log' } });

  it('refuses a setting no event could resolve: a brace without its pair, a field with no part of the event before it', () => {
    expect(streamIdProblem('nginx-logs')).toBeUndefined();
    expect(streamIdProblem('{source.file}')).toBeUndefined();
    expect(streamIdProblem('app-{body.service}-{attributes.syslog.appname}')).toBeUndefined();
    expect(streamIdProblem('{body.service')).toMatch(/brace without its pair/);
    expect(streamIdProblem('body.service}')).toMatch(/brace without its pair/);
    expect(streamIdProblem('{service}')).toMatch(/\{service\} names no field of an event: .*\(e\.g\. \{body\.service\}\)/);
    expect(streamIdProblem('{body}')).toMatch(/names no field/);
    // An empty name on the way names nothing either: every event would lack it, and its stream id be "".
    expect(streamIdProblem('{body.}')).toMatch(/\{body\.\} names no field of an event: .*\(e\.g\. \{body\.status\}\)/);
    expect(streamIdProblem('{body..service}')).toMatch(/\(e\.g\. \{body\.service\}\)/);
    const bad = anomalyDetectConfig.safeParse({ stream_id: '{body.service' });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.message).toMatch(/brace without its pair/);
  });

  it('says which field an event lacks and what it has instead; an unresolved field is told to the caller', () => {
    expect(missingFieldHint('body.servce', event({ service: 'a', status: 200 }))).toBe('body has no servce; did you mean {body.service}?');
    expect(missingFieldHint('body.service', event('GET / 200'))).toBe('body is text, not an object (parse it first)');
    expect(missingFieldHint('attributes.syslog.apname', event({}, { 'syslog.appname': 'sshd' }))).toBe('attributes has no syslog.apname; did you mean {attributes.syslog.appname}?');
    expect(missingFieldHint('body.k8s.pod', event({ k8s: { node: 'n1' } }))).toBe('body.k8s has no pod; did you mean {body.k8s.node}?');
    const missed: string[] = [];
    expect(resolveStreamId('{ body.servce }/{source.input}', event({ service: 'a' }), (ref) => missed.push(ref))).toBe('-/web');
    expect(missed).toEqual(['body.servce']);
  });

  it('an event without the field goes to the stream "-": counted, and warned once per field with a hint', async () => {
    const dataDir = await tempDir('driftlock-ad-');
    const metrics = new ComponentMetrics('detect', 'transform', 'anomaly_detect');
    const logs: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) });
    const config = anomalyDetectConfig.parse({ stream_id: '{body.servce}', emit: 'all', snapshot_interval: '0s' });
    const stage = await anomalyDetectTransform.build(config, { id: 'detect', logger, dataDir, configDir: dataDir, metrics });
    const events = ['a', 'b', 'c'].map((service) => event({ service, msg: 'hello' }));
    await (stage as { map(e: LogEvent[]): Promise<LogEvent[]> }).map(events);
    await (stage as { map(e: LogEvent[]): Promise<LogEvent[]> }).map([event({ service: 'd' })]);
    expect(metrics.get('stream_id_unresolved_events_total')).toBe(4);
    expect(metrics.get('detector_streams')).toBe(1);
    const warned = logs.filter((l) => String(l.msg).startsWith('stream_id:'));
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ field: 'body.servce', hint: 'body has no servce; did you mean {body.service}?' });
  });

  it('streams evicted before their warm-up ended are counted and said: more take turns than max_streams keeps', async () => {
    const dataDir = await tempDir('driftlock-ad-');
    const metrics = new ComponentMetrics('detect', 'transform', 'anomaly_detect');
    const logs: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) });
    const config = anomalyDetectConfig.parse({ stream_id: '{body.service}', max_streams: 2, snapshot_interval: '0s' });
    const stage = await anomalyDetectTransform.build(config, { id: 'detect', logger, dataDir, configDir: dataDir, metrics });
    const map = (events: LogEvent[]) => (stage as { map(e: LogEvent[]): Promise<LogEvent[]> }).map(events);
    await map(['a', 'b'].map((service) => event({ service, msg: 'hello' })));
    expect(metrics.get('detector_evicted_cold_streams_total')).toBe(0);
    for (let i = 0; i < 3; i++) await map(['c', 'd', 'e'].map((service) => event({ service, msg: 'hello' })));
    expect(metrics.get('detector_evicted_cold_streams_total')).toBe(9);
    const warned = logs.filter((l) => String(l.msg).includes('evicted before their warm-up ended'));
    // Said at the first, not at every batch.
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ max_streams: 2, stream_id: '{body.service}' });
  });
});

describe('anomaly_detect stream(): silences while they last', () => {
  it('passes on a silence event, with no input event to carry it, while it waits for input; the input batches go on with their finalizers', async () => {
    const dataDir = await tempDir('driftlock-ad-');
    const metrics = new ComponentMetrics('detect', 'transform', 'anomaly_detect');
    const config = anomalyDetectConfig.parse({ stream_id: 'api', min_silence: '1s', threshold: 0.5, snapshot_interval: '0s', emit: 'all' });
    const stage = await anomalyDetectTransform.build(config, { id: 'detect', logger: pino({ level: 'silent' }), dataDir, configDir: dataDir, metrics });
    // 40 s of a live stream at 20/s, its last event stamped now: one batch, then the input waits.
    const now = Date.now();
    const events: LogEvent[] = [];
    for (let t = now - 40_000; t <= now; t += 50) events.push({ observedTimestamp: now, timestamp: t, body: { msg: 'GET /api', status: 200 }, attributes: {}, source: { input: 'app' } });
    const acked: string[] = [];
    const finalizer = new Finalizer((status) => acked.push(status));
    let release!: () => void;
    const ended = new Promise<void>((resolve) => (release = resolve));
    async function* input(): AsyncIterable<Batch> {
      yield { events, finalizers: [finalizer] };
      await ended;
    }
    const out = stage.stream!(input())[Symbol.asyncIterator]();
    const first = await out.next();
    expect(first.value!.events).toHaveLength(events.length);
    expect(first.value!.finalizers).toEqual([finalizer]);
    const started = Date.now();
    const second = await out.next();
    const silence = second.value!.events;
    expect(second.value!.finalizers).toEqual([]);
    expect(silence).toHaveLength(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(silence[0]!.body).toMatch(/^stream api silent: no events for \d+ s vs typical 20\/s$/);
    expect(silence[0]!.source).toEqual({ input: 'detect' });
    expect(silence[0]!.attributes.anomaly).toMatchObject({ kind: 'volume_drop', stream_id: 'api', template: '' });
    expect(metrics.get('anomalies_total')).toBeGreaterThanOrEqual(1);
    // The input ends: the stream of batches ends too (its timer with it).
    release();
    expect((await out.next()).done).toBe(true);
  });
});

describe('anomaly_detect: no silence while the daemon stops', () => {
  it('passes on no silence once a graceful stop or reload has begun, however long the inputs take to end', async () => {
    const now = Date.now();
    const events: LogEvent[] = [];
    for (let t = now - 40_000; t <= now; t += 50) events.push({ observedTimestamp: now, timestamp: t, body: { msg: 'GET /api', status: 200 }, attributes: {}, source: { input: 'app' } });
    /**
     * A stage fed 40 s of a live stream at 20/s in one batch, after which its input waits until it is released;
     * `stopping`: the daemon begins to stop then.
     */
    const stageAfter = async (stopping?: AbortController) => {
      const dataDir = await tempDir('driftlock-ad-');
      const config = anomalyDetectConfig.parse({ stream_id: 'api', min_silence: '1s', threshold: 0.5, snapshot_interval: '0s' });
      const signal = (stopping ?? new AbortController()).signal;
      const stage = await anomalyDetectTransform.build(config, { id: 'detect', logger: pino({ level: 'silent' }), dataDir, configDir: dataDir, stopping: signal });
      let release!: () => void;
      const ended = new Promise<void>((resolve) => (release = resolve));
      async function* input(): AsyncIterable<Batch> {
        yield { events, finalizers: [] };
        // The daemon stops: an input (an OTLP server waiting for its calls) takes its time to end.
        stopping?.abort();
        await ended;
      }
      return { out: stage.stream!(input())[Symbol.asyncIterator](), release };
    };
    const stopped = await stageAfter(new AbortController());
    const next = stopped.out.next();
    // The same stream in a stage that is not stopping, side by side: its silence is told; two checks more go
    // by, in which the stopping one would have told its own, before its input ends.
    const control = await stageAfter();
    const told = await control.out.next();
    expect(told.value!.events.map((e: LogEvent) => String(e.body))).toEqual([expect.stringMatching(/^stream api silent: no events for \d+ s/)]);
    setTimeout(stopped.release, 2 * SILENCE_CHECK_MS);
    // Before: "stream api silent" after 9 s, while the daemon was only stopping.
    expect((await next).done).toBe(true);
    control.release();
    for (let got = await control.out.next(); !got.done; got = await control.out.next());
  }, 20_000);
});

describe('anomaly_detect: a reload in the same process', () => {
  it('still tells a silence that began before the reload (the new stage restores the state)', async () => {
    const dataDir = await tempDir('driftlock-ad-');
    const config = anomalyDetectConfig.parse({ stream_id: 'api', min_silence: '1s', threshold: 0.5, snapshot_interval: '1s' });
    const build = () => anomalyDetectTransform.build(config, { id: 'detect', logger: pino({ level: 'silent' }), dataDir, configDir: dataDir, stopping: new AbortController().signal });
    const now = Date.now();
    const events: LogEvent[] = [];
    for (let t = now - 45_000; t <= now; t += 50) events.push({ observedTimestamp: now, timestamp: t, body: { msg: 'GET /api', status: 200 }, attributes: {}, source: { input: 'app' } });
    // A live stream, then a reload (the stage stops gracefully) just after its last event.
    const first = await build();
    await first.map!(events);
    await first.flush!();
    // The new pipeline's stage, from the same data dir: its input open and silent.
    const second = await build();
    let release!: () => void;
    const ended = new Promise<void>((resolve) => (release = resolve));
    const input: AsyncIterable<Batch> = { [Symbol.asyncIterator]: () => ({ next: async () => (await ended, { done: true, value: undefined }) }) };
    const out = second.stream!(input)[Symbol.asyncIterator]();
    const timeout = setTimeout(release, 8_000);
    const got = await out.next();
    clearTimeout(timeout);
    release();
    // Before: nothing (a restored stream was judged only after its next event); the input ended at 8 s.
    expect(got.done).toBe(false);
    expect(got.value!.events.map((e: LogEvent) => String(e.body))).toEqual([expect.stringMatching(/^stream api silent: no events for \d+ s/)]);
    expect((await out.next()).done).toBe(true);
    await second.flush!();
  }, 20_000);
});

describe('anomaly_detect: many streams silent at once', () => {
  it('passes on one alert naming them, not one per stream, when more than five go silent at the same check', async () => {
    const dataDir = await tempDir('driftlock-ad-');
    const metrics = new ComponentMetrics('detect', 'transform', 'anomaly_detect');
    const config = anomalyDetectConfig.parse({ stream_id: '{body.svc}', min_silence: '1s', threshold: 0.5, snapshot_interval: '0s' });
    const stage = await anomalyDetectTransform.build(config, { id: 'detect', logger: pino({ level: 'silent' }), dataDir, configDir: dataDir, metrics });
    // Twelve services behind one forwarder, each 40 s at 20/s, the last event stamped now; then the
    // forwarder stops: every stream falls silent at once.
    const now = Date.now();
    const events: LogEvent[] = [];
    for (let t = now - 40_000; t <= now; t += 50) {
      for (let k = 0; k < 12; k++) events.push({ observedTimestamp: now, timestamp: t, body: { svc: `svc-${k}`, msg: 'GET /api', status: 200 }, attributes: {}, source: { input: 'fwd' } });
    }
    let release!: () => void;
    const ended = new Promise<void>((resolve) => (release = resolve));
    async function* input(): AsyncIterable<Batch> {
      yield { events, finalizers: [] };
      await ended;
    }
    const out = stage.stream!(input())[Symbol.asyncIterator]();
    const batch = await out.next();
    // Before: twelve silence events (a thousand streams: a thousand Slack messages).
    const silence = batch.value!.events;
    expect(silence).toHaveLength(1);
    expect(silence[0]!.body).toMatch(/^12 streams silent at once: svc-\d+, svc-\d+, svc-\d+, svc-\d+, svc-\d+ and 7 more$/);
    expect(silence[0]!.attributes.anomaly).toMatchObject({
      kind: 'volume_drop',
      stream_id: 'many streams',
      why: expect.stringMatching(/^12 streams went silent at once \(svc-\d+, .* and 7 more\): no events for \d+ s( to \d+ s)? so far; what feeds them \(an input, a forwarder\) may have stopped$/),
    });
    expect(metrics.get('anomalies_total')).toBe(1);
    // Counted by kind, every kind exported from the start at 0.
    expect(metrics.get('anomalies_total', { kind: 'volume_drop' })).toBe(1);
    const byKind = metrics.samples().filter((x) => x.name === 'driftlock_anomalies_total');
    expect(byKind.map((x) => [x.labels.kind, x.value])).toEqual([['new_pattern', 0], ['content', 0], ['field_value', 0], ['field_category', 0], ['field_content', 0], ['field_drift', 0], ['new_field', 0], ['volume_spike', 0], ['volume_drop', 1]]);
    release();
    expect((await out.next()).done).toBe(true);
  });

  it('tells the streams of that alert back in one notice, closing it, though they come back a few at a time', async () => {
    const dataDir = await tempDir('driftlock-ad-');
    const config = anomalyDetectConfig.parse({ stream_id: '{body.svc}', min_silence: '1s', threshold: 0.5, snapshot_interval: '0s' });
    const stage = await anomalyDetectTransform.build(config, { id: 'detect', logger: pino({ level: 'silent' }), dataDir, configDir: dataDir });
    const record = (t: number, k: number): LogEvent => ({ observedTimestamp: t, timestamp: t, body: { svc: `svc-${k}`, msg: 'GET /api', status: 200 }, attributes: {}, source: { input: 'fwd' } });
    const now = Date.now();
    const events: LogEvent[] = [];
    for (let t = now - 40_000; t <= now; t += 50) for (let k = 0; k < 12; k++) events.push(record(t, k));
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    let silenceTold!: () => void;
    const told = new Promise<void>((resolve) => (silenceTold = resolve));
    let release!: () => void;
    const ended = new Promise<void>((resolve) => (release = resolve));
    async function* input(): AsyncIterable<Batch> {
      yield { events, finalizers: [] };
      await told;
      // The forwarder is back: its streams come back one a batch, 150 ms apart (as files and connections resume).
      let done = false;
      void ended.then(() => (done = true));
      for (let i = 0; !done; i++) {
        // Each stream back goes on at 20/s.
        const back = Math.min(12, i + 1);
        const t = Date.now();
        const batch: LogEvent[] = [];
        for (let k = 0; k < back; k++) for (let j = 0; j < 3; j++) batch.push(record(t - 100 + 50 * j, k));
        yield { events: batch, finalizers: [] };
        await sleep(150);
      }
    }
    const out = stage.stream!(input())[Symbol.asyncIterator]();
    const silence = (await out.next()).value!.events;
    expect(silence.map((e: LogEvent) => (e.attributes.anomaly as { stream_id: string }).stream_id)).toEqual(['many streams']);
    silenceTold();
    const notices: LogEvent[] = [];
    const started = Date.now();
    // What the stage passes on until 2 s after the notice came (BACK_GATHER_MS after the first stream back).
    let next = out.next();
    let until = started + 20_000;
    for (;;) {
      const got = await Promise.race([next, sleep(Math.max(0, until - Date.now())).then(() => undefined)]);
      if (!got || got.done) break;
      next = out.next();
      const resolved = got.value.events.filter((e: LogEvent) => (e.attributes.anomaly as { resolved?: boolean } | undefined)?.resolved);
      if (resolved.length && !notices.length) until = Date.now() + 2000;
      notices.push(...resolved);
    }
    expect(Date.now() - started).toBeGreaterThanOrEqual(BACK_GATHER_MS);
    // Before: twelve notices, one per stream, each for a stream of its own (none closed the alert).
    expect(notices).toHaveLength(1);
    expect(notices[0]!.attributes.anomaly).toMatchObject({ kind: 'volume_drop', resolved: true, stream_id: 'many streams', confidence: (silence[0]!.attributes.anomaly as { confidence: number }).confidence });
    expect(notices[0]!.body).toMatch(/^12 streams back \(of those that went silent at once\): events again after up to \d+ s of silence \(svc-0, svc-1, svc-2, svc-3, svc-4 and 7 more\)$/);
    release();
    for (let got = await next; !got.done; got = await out.next());
  }, 30_000);

  it('says it holds back one event, pending(), while the notice of streams back gathers; none before, nor once flush() has passed it on', async () => {
    // It holds back no event of its input; before, it had no pending(), and a flush() of it that failed said
    // that how many events it lost was not known.
    const dataDir = await tempDir('driftlock-ad-');
    const config = anomalyDetectConfig.parse({ stream_id: '{body.svc}', min_silence: '1s', threshold: 0.5, snapshot_interval: '0s' });
    const stage = await anomalyDetectTransform.build(config, { id: 'detect', logger: pino({ level: 'silent' }), dataDir, configDir: dataDir });
    const record = (t: number, k: number): LogEvent => ({ observedTimestamp: t, timestamp: t, body: { svc: `svc-${k}`, msg: 'GET /api', status: 200 }, attributes: {}, source: { input: 'fwd' } });
    const now = Date.now();
    const history: LogEvent[] = [];
    for (let t = now - 40_000; t <= now; t += 50) for (let k = 0; k < 12; k++) history.push(record(t, k));
    let silenceTold!: () => void;
    const told = new Promise<void>((resolve) => (silenceTold = resolve));
    let scored!: () => void;
    const backScored = new Promise<void>((resolve) => (scored = resolve));
    let release!: () => void;
    const ended = new Promise<void>((resolve) => (release = resolve));
    async function* input(): AsyncIterable<Batch> {
      yield { events: history, finalizers: [] };
      await told;
      // One of the streams of that alert back: its end is gathered (BACK_GATHER_MS) for one notice.
      const t = Date.now();
      yield { events: [record(t - 50, 0), record(t, 0)], finalizers: [] };
      // Asked for the next batch: it has scored that one.
      scored();
      await ended;
    }
    const out = stage.stream!(input())[Symbol.asyncIterator]();
    const silence = (await out.next()).value!.events;
    expect(silence.map((e: LogEvent) => (e.attributes.anomaly as { stream_id: string }).stream_id)).toEqual(['many streams']);
    expect(stage.pending!()).toBe(0);
    silenceTold();
    const next = out.next();
    await backScored;
    expect(stage.pending!()).toBe(1);
    release();
    expect((await next).done).toBe(true);
    const rest = await stage.flush!();
    expect(rest.map((e) => (e.attributes.anomaly as { resolved?: boolean }).resolved)).toEqual([true]);
    expect(stage.pending!()).toBe(0);
  }, 30_000);

  it('keeps one alert a stream for five or fewer', () => {
    const one = (id: string): Anomaly => ({ kind: 'volume_drop', score: 9, confidence: 0.9, why: 'x', stream_id: id, template: '', template_id: -1, baseline: { silent_seconds: 9 } });
    expect(groupSilences(['a', 'b', 'c', 'd', 'e'].map(one))).toHaveLength(5);
    expect(groupSilences(['a', 'b', 'c', 'd', 'e', 'f'].map(one)).map((a) => a.stream_id)).toEqual(['many streams']);
  });
});

describe('anomaly_detect silenceEvent', () => {
  it('cuts a long pattern in the body without leaving half an emoji', () => {
    const template = `${'x'.repeat(78)}😀 heartbeat <num>`;
    const event = silenceEvent({ kind: 'volume_drop', score: 3, confidence: 0.95, why: 'pattern stopped', stream_id: 'api', template, template_id: 4, baseline: { silent_seconds: 40 } }, undefined, 'detect');
    const body = event.body as string;
    // A lone surrogate: a terminal shows U+FFFD, JSON.stringify writes `\ud83d`.
    expect(body).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
    expect(body).toBe(`stream api silent: no events for 40 s (pattern "${'x'.repeat(78)}…" stopped)`);
  });
});

describe('anomaly_detect state snapshots on a full disk', () => {
  it.skipIf(!existsSync('/dev/full'))('says a failed save once, counts each, shows it on /health, and saves once there is room', async () => {
    const dataDir = await tempDir('driftlock-ad-full-');
    // The snapshot's temp file is /dev/full: every save fails with ENOSPC, as on a full disk.
    await symlink('/dev/full', path.join(dataDir, 'detector.json.tmp'));
    const metrics = new ComponentMetrics('detect', 'transform', 'anomaly_detect');
    const logs: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) });
    const health: string[] = [];
    const config = anomalyDetectConfig.parse({ stream_id: 'app', snapshot_interval: '20ms' });
    const stage = (await anomalyDetectTransform.build(config, {
      id: 'detect', logger, dataDir, configDir: dataDir, metrics,
      health: { failing: (r) => health.push(`failing: ${r}`), ok: () => health.push('ok') },
    })) as { map(e: LogEvent[]): Promise<LogEvent[]>; flush(): Promise<LogEvent[]> };
    // Events keep coming: every interval has something to save.
    for (let i = 0; metrics.get('errors_total') < 5; i++) {
      await stage.map([event(`user ${i % 7} logged in`)]);
      await new Promise((r) => setTimeout(r, 10));
      if (i > 2000) throw new Error('no failed save');
    }
    expect(logs.filter((l) => (l.level as number) >= 40).map((l) => l.msg)).toEqual([expect.stringMatching(/^cannot save detector state; retrying/)]);
    expect(health).toEqual([expect.stringMatching(/^failing: cannot save detector state: ENOSPC/)]);

    await unlink(path.join(dataDir, 'detector.json.tmp'));
    await stage.map([event('user 1 logged in')]);
    await until(() => logs.some((l) => l.msg === 'detector state can be saved again'), 'the "detector state can be saved again" log line', {
      timeoutMs: 10_000,
      detail: () => logs.slice(-5).map((l) => JSON.stringify(l)).join('\n'),
    });
    expect(health.at(-1)).toBe('ok');
    expect((await readFile(path.join(dataDir, 'detector.json'), 'utf8')).split('\n')[0]).toContain('detector-state');
    await stage.flush();
  });
});
