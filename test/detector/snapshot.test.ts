import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it, expect } from 'vitest';
import { Detector, type Anomaly, type DetectorInput } from '../../src/detector/index.js';
import { SNAPSHOT_VERSION, describeRestore, restoreDetector, snapshotDetector, type DetectorSnapshot } from '../../src/detector/snapshot.js';
import { loadDetectorState, saveDetectorState } from '../../src/transforms/anomaly-detect.js';
import {
  FEED_READER_USER_AGENT, LoginLines, MANY_USER_AGENTS, NginxTraffic, SQL_INJECTION, T0, STEP_MS, expectWellFormed, mulberry32, pick,
} from './baseline.js';
import { tempDir } from '../helpers/temp.js';

const DB_ERROR = 'ERROR: Database connection failed';

/** Through JSON text, as a snapshot file would be. */
function viaJson(detector: Detector): DetectorSnapshot {
  return JSON.parse(JSON.stringify(snapshotDetector(detector))) as DetectorSnapshot;
}

function restored(snapshot: DetectorSnapshot, config: ConstructorParameters<typeof Detector>[0] = {}): Detector {
  const d = new Detector(config);
  restoreDetector(d, snapshot);
  return d;
}

function run(detector: Detector, streamId: string, inputs: DetectorInput[]): Array<Anomaly | undefined> {
  return inputs.map((input) => detector.observe(streamId, input));
}

/**
 * What must be the same for "the same anomaly": whether and what was flagged, on which field and template.
 * Scores and the numbers quoted in a `why` may differ slightly: numeric statistics and calibrators are
 * recomputed lazily, at a different phase after a restore.
 */
function summary(a: Anomaly | undefined): Pick<Anomaly, 'kind' | 'field' | 'template' | 'template_id' | 'stream_id'> | undefined {
  return a && { kind: a.kind, field: a.field, template: a.template, template_id: a.template_id, stream_id: a.stream_id };
}

function expectSameAnomalies(restoredOnes: Array<Anomaly | undefined>, originalOnes: Array<Anomaly | undefined>): void {
  expect(restoredOnes.map(summary)).toEqual(originalOnes.map(summary));
  restoredOnes.forEach((a, i) => {
    if (!a) return;
    const b = originalOnes[i]!;
    expect(a.confidence).toBeCloseTo(b.confidence, 2);
    expect(a.score).toBeGreaterThan(b.score * 0.9);
    expect(a.score).toBeLessThan(b.score * 1.1);
  });
}

/** An nginx baseline of 3000 events, and the events that follow it (generated once, fed to several detectors). */
function nginxScenario(): { original: Detector; traffic: NginxTraffic } {
  const original = new Detector();
  const traffic = new NginxTraffic({ userAgents: MANY_USER_AGENTS });
  for (let i = 0; i < 3000; i++) original.observe('nginx', traffic.next());
  return { original, traffic };
}

describe('snapshotDetector / restoreDetector', () => {
  it('writes a versioned snapshot with every stream, and restores them all', () => {
    const d = new Detector();
    const lines = new LoginLines();
    for (let i = 0; i < 200; i++) {
      const input = lines.next();
      d.observe('a', input);
      if (i % 2 === 0) d.observe('b', input);
    }
    const snap = viaJson(d);
    expect(snap.version).toBe(SNAPSHOT_VERSION);
    expect(typeof snap.savedAt).toBe('number');
    // Least recently used first: the last event went to a.
    expect(snap.streams.map((s) => s.id)).toEqual(['b', 'a']);
    // Taking a snapshot does not change the order of use.
    expect(d.streamIds()).toEqual(['b', 'a']);
    const r = new Detector();
    expect(restoreDetector(r, snap)).toEqual({ streams: 2, failed: [] });
    expect(r.streamIds()).toEqual(['b', 'a']);
    expect(r.stream('a').events).toBe(200);
    expect(r.stream('b').events).toBe(100);
  });

  it('restores the same state: a second snapshot carries the same baselines', () => {
    const { original } = nginxScenario();
    const snap = viaJson(original);
    const again = viaJson(restored(snap));
    const [a, b] = [snap.streams[0]!, again.streams[0]!];
    expect(b.events).toBe(a.events);
    expect(b.templates).toEqual(a.templates);
    expect(b.learned).toEqual(a.learned);
    // Field baselines: the same, except that restoring a free-text window appends one separator to it.
    const withoutWindows = (fields: typeof a.fields) =>
      fields.map((f) => ({ ...f, text: typeof f.text === 'object' ? { ...f.text, text: f.text.text.replace(/\n+$/, '') } : f.text }));
    expect(b.fields.map((f) => f.name)).toEqual(a.fields.map((f) => f.name));
    expect(withoutWindows(b.fields)).toEqual(withoutWindows(a.fields));
    expect(a.fields.some((f) => f.text !== undefined)).toBe(true);
    expect(b.volume.history).toEqual(a.volume.history);
    expect(b.contentCal).toEqual(a.contentCal);
  });

  it('does not start a new warm-up: the first anomalous event after restore is flagged, as by the original', () => {
    const { original, traffic } = nginxScenario();
    const r = restored(viaJson(original));
    const input = traffic.next({ response_time: 5.0 });
    // A detector without the snapshot would still be warming up.
    expect(new Detector().observe('nginx', input)).toBeUndefined();
    const a = r.observe('nginx', input);
    expect(a).toBeDefined();
    expectWellFormed(a!, 'nginx');
    expect(a!.kind).toBe('field_value');
    expect(a!.field).toBe('response_time');
    expect(a!.why).toContain('typical');
    expectSameAnomalies([a], [original.observe('nginx', input)]);
  });

  it('keeps normal events normal after restore', () => {
    const { original, traffic } = nginxScenario();
    const r = restored(viaJson(original));
    const normal = Array.from({ length: 1000 }, () => traffic.next());
    const flagged = run(r, 'nginx', normal).filter(Boolean);
    expect(flagged.length).toBeLessThan(10);
    expectSameAnomalies(flagged, run(original, 'nginx', normal).filter(Boolean));
  });

  it('flags the same anomalies as the original on the same events, of every structured kind', () => {
    const { original, traffic } = nginxScenario();
    const r = restored(viaJson(original));
    const inputs: DetectorInput[] = [];
    for (let i = 0; i < 50; i++) inputs.push(traffic.next());
    inputs.push(traffic.next({ http_user_agent: SQL_INJECTION }));
    for (let i = 0; i < 50; i++) inputs.push(traffic.next());
    inputs.push(traffic.next({ status: 500 }));
    inputs.push(traffic.next({ response_time: 4.2 }));
    for (let i = 0; i < 2000; i++) inputs.push(traffic.next({}, 2.5)); // 5 s at 400/s
    const fromRestored = run(r, 'nginx', inputs);
    const fromOriginal = run(original, 'nginx', inputs);
    const kinds = new Set(fromRestored.filter(Boolean).map((a) => a!.kind));
    for (const k of ['field_content', 'field_category', 'field_value', 'volume_spike'] as const) expect(kinds).toContain(k);
    expectSameAnomalies(fromRestored, fromOriginal);
  });

  it('restores the fields a stream carried: a field never seen is news at once after restore, one seen before (even no longer kept) is not', () => {
    const rnd = mulberry32(13);
    let t = T0;
    const next = (extra: Record<string, string | number> = {}): DetectorInput => ({ time: (t += STEP_MS), text: '', fields: { level: 'INFO', message: pick(rnd, ['User alice logged in', 'Cache refreshed']), ...extra } });
    // maxFields 3: `region`, carried by the first 20 events only, loses its slot to `trace` later on.
    const original = new Detector({ overrides: { maxFields: 3 } });
    for (let i = 0; i < 20; i++) original.observe('app', next({ region: 'eu-west-1' }));
    for (let i = 0; i < 3000; i++) original.observe('app', next());
    // `trace` takes region's slot (gone 3,000 events); as the stream's first trace, it is news.
    expect(original.observe('app', next({ trace: 'abc' }))?.kind).toBe('new_field');
    for (let i = 0; i < 200; i++) original.observe('app', next({ trace: 'abc' }));
    const r = restored(viaJson(original), { overrides: { maxFields: 3 } });
    // region is not kept any more, but the stream carried it: no new field.
    expect(r.observe('app', next({ region: 'eu-west-1', trace: 'abc' }))?.kind).not.toBe('new_field');
    const a = r.observe('app', next({ trace: 'abc', error: 'connection reset by peer' }));
    expect(a).toMatchObject({ kind: 'new_field', field: 'error' });
  });

  it('restores a text stream: a new error is flagged at once, and a learned pattern stays learned', () => {
    const d = new Detector({ overrides: { learnAfterMs: 60_000, learnMinCount: 5 } });
    const lines = new LoginLines();
    for (let i = 0; i < 2000; i++) d.observe('app', lines.next());
    // A warning that recurs for two minutes becomes normal before the snapshot.
    let accepted: Anomaly | undefined;
    for (let k = 0; k < 25; k++) {
      const a = d.observe('app', lines.line('WARN: cache miss ratio high', 5000));
      if (a?.why.includes('now treated as normal')) accepted = a;
    }
    expect(accepted).toBeDefined();
    const r = restored(viaJson(d), { overrides: { learnAfterMs: 60_000, learnMinCount: 5 } });
    const inputs = [lines.line('WARN: cache miss ratio high'), lines.line(DB_ERROR), ...Array.from({ length: 50 }, () => lines.next())];
    const fromRestored = run(r, 'app', inputs);
    expect(fromRestored[0]).toBeUndefined();
    expect(fromRestored[1]?.kind).toBe('new_pattern');
    expect(fromRestored[1]!.why).toContain('error pattern');
    expect(fromRestored.slice(2)).toEqual(new Array(50).fill(undefined));
    expectSameAnomalies(fromRestored, run(d, 'app', inputs));
  });

  it('restores the errors that alerted: their repeats keep alerting after restore, as in the original', () => {
    const overrides = { learnAfterMs: 60_000, learnMinCount: 5 };
    const d = new Detector({ overrides });
    const lines = new LoginLines();
    for (let i = 0; i < 2000; i++) d.observe('app', lines.next());
    expect(d.observe('app', lines.line('ERROR: disk quota exceeded on volume 3'))?.kind).toBe('new_pattern');
    const r = restored(viaJson(d), { overrides });
    // Lines that come to explain the error's words, then the error again.
    let k = 0;
    const inputs = Array.from({ length: 3000 }, () => (k++ % 3 === 0 ? lines.line(`INFO: disk quota exceeded on volume ${k} was cleared`) : lines.next()));
    inputs.push(lines.line('ERROR: disk quota exceeded on volume 7'));
    const fromRestored = run(r, 'app', inputs);
    expect(fromRestored.at(-1)?.why).toMatch(/^error message "ERROR: disk quota exceeded on volume" again: 1 alert since /);
    expectSameAnomalies(fromRestored, run(d, 'app', inputs));
  });

  it('restores the field values that alerted: a user agent on its third occasion after restore becomes normal, as in the original', () => {
    const hour = 3_600_000;
    const d = new Detector();
    const traffic = new NginxTraffic({ userAgents: MANY_USER_AGENTS, stepMs: 5000 });
    const browse = (ms: number): DetectorInput[] => Array.from({ length: ms / 5000 }, () => traffic.next());
    run(d, 'nginx', browse(4 * hour));
    // Two visits, two hours apart, before the snapshot.
    for (let k = 0; k < 2; k++) {
      expect(d.observe('nginx', traffic.next({ http_user_agent: FEED_READER_USER_AGENT }))?.kind).toBe('field_content');
      run(d, 'nginx', browse(2 * hour));
    }
    const snap = viaJson(d);
    expect(snap.streams[0]!.alertedValues).toEqual([
      expect.objectContaining({ field: 'http_user_agent', value: expect.stringContaining('livejournal') as string, occasions: 2, count: 2 }),
    ]);
    const inputs = [traffic.next({ http_user_agent: FEED_READER_USER_AGENT }), ...browse(hour), traffic.next({ http_user_agent: FEED_READER_USER_AGENT })];
    const fromRestored = run(restored(snap), 'nginx', inputs);
    expect(fromRestored[0]?.why).toMatch(/; recurring for 4\.0 h \(3 times\): now treated as normal$/);
    expect(fromRestored.at(-1)).toBeUndefined();
    expectSameAnomalies(fromRestored, run(d, 'nginx', inputs));
    // A snapshot of an older build has no such values: the user agent starts counting again, and alerts.
    const older = JSON.parse(JSON.stringify(snap)) as DetectorSnapshot;
    delete older.streams[0]!.alertedValues;
    const fromOlder = run(restored(older), 'nginx', inputs);
    expect(fromOlder[0]?.kind).toBe('field_content');
    expect(fromOlder[0]!.why).not.toContain('now treated as normal');
    expect(fromOlder.at(-1)?.kind).toBe('field_content');
  });

  it('restores the volume baseline: a spike right after restore is flagged', () => {
    const { original, traffic } = nginxScenario();
    const r = restored(viaJson(original));
    const spike = Array.from({ length: 1200 }, () => traffic.next({}, 2.5));
    const flagged = run(r, 'nginx', spike).filter((a) => a?.kind === 'volume_spike');
    expect(flagged.length).toBeGreaterThanOrEqual(2);
    expect(flagged[0]!.why).toMatch(/^volume /);
  });

  it('restores the streams it can read and names the ones it cannot, which start a new warm-up', () => {
    const d = new Detector();
    for (const id of ['a', 'b', 'c']) for (let i = 0; i < 150; i++) d.observe(id, { text: `user ${i} logged in`, time: T0 + i * 1000 });
    const snap = viaJson(d);
    // Stream b's state is damaged (a hand edit, a disk error): its templates are no list.
    (snap.streams[1] as unknown as { templates: unknown }).templates = 42;
    const r = new Detector();
    const result = restoreDetector(r, snap);
    expect(result.streams).toBe(2);
    expect(result.failed).toEqual([{ id: 'b', error: expect.any(String) as string }]);
    expect(r.streamIds()).toEqual(['a', 'c']);
    expect(r.stream('a').events).toBe(150);
    expect(describeRestore(result)).toMatch(/^2 streams; 1 could not be read \(stream "b": .+\) and starts a new warm-up$/);
    expect(describeRestore({ streams: 1, failed: [] })).toBe('1 stream');
  });

  it('rejects a snapshot of another version, or no snapshot', () => {
    const { original } = nginxScenario();
    const snap = viaJson(original);
    const d = new Detector();
    expect(() => restoreDetector(d, { ...snap, version: SNAPSHOT_VERSION + 1 })).toThrow(/unsupported detector snapshot/);
    expect(() => restoreDetector(d, { ...snap, version: 0 })).toThrow(/version 0/);
    expect(() => restoreDetector(d, null as unknown as DetectorSnapshot)).toThrow(/unsupported detector snapshot/);
    expect(() => restoreDetector(d, { version: SNAPSHOT_VERSION, savedAt: 0 } as unknown as DetectorSnapshot)).toThrow(/unsupported/);
    // Nothing was restored by the failed attempts.
    expect(d.streamCount).toBe(0);
  });

  it('keeps the stream bound when restoring more streams than maxStreams', () => {
    const d = new Detector();
    for (const id of ['a', 'b', 'c']) d.observe(id, { time: T0, text: 'INFO: hello' });
    const r = restored(viaJson(d), { maxStreams: 2 });
    r.observe('d', { time: T0 + STEP_MS, text: 'INFO: hello' });
    expect(r.streamCount).toBeLessThanOrEqual(2);
  });

  it('treats an integer field like the original after a 25th distinct value', () => {
    const rnd = mulberry32(1);
    const d = new Detector();
    let t = T0;
    const at = (shard: number): DetectorInput => {
      t += STEP_MS;
      return { time: t, text: `served shard ${shard}`, fields: { msg: 'served', shard } };
    };
    for (let i = 0; i < 3000; i++) d.observe('shards', at(1 + Math.floor(rnd() * 24)));
    const r = restored(viaJson(d));
    const inputs = [25, 26, 27, 28].map(at);
    const fromOriginal = run(d, 'shards', inputs);
    const fromRestored = run(r, 'shards', inputs);
    expect(fromOriginal[0]?.kind).toBe('field_category'); // both flag the first new shard
    expect(fromRestored.map((a) => a?.kind)).toEqual(fromOriginal.map((a) => a?.kind));
  });

  it('scores a field that once had a non-integer value numerically after restore, as the original does', () => {
    const rnd = mulberry32(2);
    const d = new Detector();
    let t = T0;
    const at = (depth: number): DetectorInput => {
      t += STEP_MS;
      return { time: t, text: `queue ${depth}`, fields: { msg: 'queue', depth } };
    };
    for (let i = 0; i < 3000; i++) d.observe('q', at(i === 5 ? 2.5 : 10 + Math.floor(rnd() * 10)));
    const r = restored(viaJson(d));
    const input = at(200);
    expect(d.observe('q', input)?.kind).toBe('field_value');
    expect(r.observe('q', input)?.kind).toBe('field_value');
  });

  it("the daemon's own downtime after a restore is not the stream's silence: no volume drop, no stopped heartbeat", () => {
    const original = new Detector();
    const lines = new LoginLines();
    // 12 minutes at 20 lines/s, with a heartbeat every 10 s (regular enough to be missed when it stops).
    for (let i = 1; i <= 14_400; i++) {
      original.observe('app', i % 200 === 0 ? lines.line('INFO: heartbeat ok') : lines.next());
    }
    const snapshot = viaJson(original);
    const copy = restored(snapshot);
    // 15 minutes later (the daemon was down): the same traffic again.
    lines.time += 15 * 60_000;
    const after: DetectorInput[] = [];
    for (let i = 1; i <= 400; i++) after.push(i % 200 === 0 ? lines.line('INFO: heartbeat ok') : lines.next());
    const resumed = run(copy, 'app', after).filter((a): a is Anomaly => a !== undefined);
    expect(resumed.map((a) => a.why)).toEqual([]);
    // The detector that never stopped saw the same 15 minutes as a silence of its stream, and says so.
    const continued = run(original, 'app', after).filter((a): a is Anomaly => a !== undefined);
    expect(continued.map((a) => a.kind)).toContain('volume_drop');
  });
});

describe('the state file (saveDetectorState / loadDetectorState)', () => {
  /** A state file's path in a new temporary folder. */
  const stateFile = async () => path.join(await tempDir('driftlock-state-'), 'detector.json');
  const fill = (ids: string[]) => {
    const d = new Detector();
    for (const id of ids) for (let i = 0; i < 150; i++) d.observe(id, { text: `user ${i} logged in`, time: T0 + i * 1000 });
    return d;
  };

  it('is JSON lines, a header and one stream a line (one JSON text could not hold thousands of streams), and restores', async () => {
    const file = await stateFile();
    const ids = Array.from({ length: 40 }, (_, i) => `s${i}`);
    await saveDetectorState(fill(ids), file);
    const lines = (await readFile(file, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id?: string; driftlock?: string; streams?: number });
    expect(lines[0]).toMatchObject({ driftlock: 'detector-state', version: SNAPSHOT_VERSION, streams: 40 });
    expect(lines.slice(1).map((l) => l.id)).toEqual(ids);
    const r = new Detector();
    expect(await loadDetectorState(r, file)).toEqual({ streams: 40, failed: [] });
    expect(r.stream('s39').events).toBe(150);
  });

  it('reads a state file written before they were lines (one JSON text)', async () => {
    const file = await stateFile();
    await writeFile(file, JSON.stringify(snapshotDetector(fill(['a', 'b']))));
    const r = new Detector();
    expect(await loadDetectorState(r, file)).toEqual({ streams: 2, failed: [] });
    expect(r.stream('b').events).toBe(150);
  });

  it('restores the streams whose lines it can read when one line is damaged; no file is no state', async () => {
    const file = await stateFile();
    await saveDetectorState(fill(['a', 'b', 'c']), file);
    const lines = (await readFile(file, 'utf8')).split('\n');
    lines[2] = lines[2]!.slice(0, 100);
    await writeFile(file, lines.join('\n'));
    const r = new Detector();
    const result = await loadDetectorState(r, file);
    expect(result?.streams).toBe(2);
    expect(result?.failed).toEqual([{ id: '?', error: expect.stringMatching(/^not JSON/) as string }]);
    expect(r.streamIds()).toEqual(['a', 'c']);
    expect(await loadDetectorState(new Detector(), path.join(path.dirname(file), 'missing.json'))).toBeUndefined();
    await writeFile(file, '');
    await expect(loadDetectorState(new Detector(), file)).rejects.toThrow(/empty/);
  });
});
