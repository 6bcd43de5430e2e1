import type { Logger } from 'pino';
import { afterEach, describe, it, expect, vi } from 'vitest';
import type { TransformStage } from '../../src/engine/component.js';
import { createEvent, type Attributes, type LogEvent } from '../../src/engine/event.js';
import { ComponentMetrics } from '../../src/engine/metrics.js';
import { parseConfig, parseTransform } from '../../src/transforms/parse.js';
import { builtModule, runWithGc } from '../helpers/gc-child.js';

interface Warning {
  fields: Record<string, unknown>;
  message: string;
}

async function build(config: Record<string, unknown>): Promise<{ stage: TransformStage; warnings: Warning[] }> {
  const warnings: Warning[] = [];
  const logger = {
    warn: (fields: Record<string, unknown>, message: string) => warnings.push({ fields, message }),
  } as unknown as Logger;
  const stage = await parseTransform.build(parseConfig.parse(config), { id: 'parse_test', logger, dataDir: '/tmp', configDir: '/tmp' });
  return { stage, warnings };
}

function event(body: string | Attributes, attributes: Attributes = {}): LogEvent {
  return { ...createEvent(body, { input: 'test' }, 1_700_000_000_000), attributes };
}

async function run(config: Record<string, unknown>, bodies: Array<string | Attributes>): Promise<LogEvent[]> {
  const { stage } = await build(config);
  return stage.map!(bodies.map((b) => event(b)));
}

afterEach(() => {
  vi.useRealTimers();
});

describe('parse config', () => {
  it('requires a known format and fills defaults', () => {
    expect(parseConfig.safeParse({}).success).toBe(false);
    expect(parseConfig.safeParse({ format: 'csv' }).success).toBe(false);
    expect(parseConfig.parse({ format: 'json' })).toEqual({ format: 'json', field: 'body', keep_original: false });
  });

  it('accepts body or attributes.<name> as the field', () => {
    expect(parseConfig.parse({ format: 'json', field: 'attributes.message' }).field).toBe('attributes.message');
    const bad = parseConfig.safeParse({ format: 'json', field: 'message' });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.message).toBe('expected `body` or `attributes.<name>`');
    expect(parseConfig.safeParse({ format: 'json', field: 'attributes.' }).success).toBe(false);
  });

  it('describes every key, including the status-to-severity choice', () => {
    for (const [key, schema] of Object.entries(parseConfig.shape)) {
      expect(schema.description, key).toBeTruthy();
    }
    expect(parseConfig.shape.format.description).toContain('5xx ERROR, 4xx WARN');
  });
});

describe('parse transform: json', () => {
  it('replaces the body with the object, in place, and returns the same array', async () => {
    const { stage } = await build({ format: 'json' });
    const events = [event('{"msg":"hello","n":1}')];
    const first = events[0];
    const out = await stage.map!(events);
    expect(out).toBe(events);
    expect(out[0]).toBe(first);
    expect(out[0]!.body).toEqual({ msg: 'hello', n: 1 });
    expect(out[0]!.attributes).toEqual({});
    expect(out[0]!.timestamp).toBeUndefined();
  });

  it('takes the time from timestamp, time, @timestamp or ts', async () => {
    const out = await run({ format: 'json' }, [
      '{"timestamp":"2025-01-01T12:00:00Z"}',
      '{"time":1735732800}',
      '{"@timestamp":"2025-01-01T12:00:00.500Z"}',
      '{"ts":1735732800123}',
      '{"time":0.05,"ts":"2025-01-01T12:00:00Z"}',
      '{"time":"not a date"}',
    ]);
    expect(out.map((e) => e.timestamp)).toEqual([
      Date.UTC(2025, 0, 1, 12), Date.UTC(2025, 0, 1, 12), Date.UTC(2025, 0, 1, 12, 0, 0, 500), Date.UTC(2025, 0, 1, 12, 0, 0, 123),
      Date.UTC(2025, 0, 1, 12), undefined,
    ]);
  });

  it('takes the severity from level, severity, lvl or log.level, pino numbers included', async () => {
    const out = await run({ format: 'json' }, [
      '{"level":"ERROR"}',
      '{"severity":"warning"}',
      '{"lvl":"debug"}',
      '{"log.level":"info"}',
      '{"log":{"level":"fatal"}}',
      '{"level":50}',
      '{"level":"verbose"}',
      '{"level":7}',
    ]);
    expect(out.map((e) => [e.severityText, e.severityNumber])).toEqual([
      ['ERROR', 17], ['warning', 13], ['debug', 5], ['info', 9], ['fatal', 21], ['error', 17], ['verbose', undefined], [undefined, undefined],
    ]);
  });

  it('leaves a line that does not parse unchanged, with parse.error', async () => {
    const out = await run({ format: 'json' }, ['[1,2,3]', 'plain text', '{"ok":true}']);
    expect(out).toHaveLength(3);
    expect(out[0]!.body).toBe('[1,2,3]');
    expect(out[0]!.attributes['parse.error']).toBe('json: expected a JSON object, found array');
    expect(out[1]!.body).toBe('plain text');
    expect(out[1]!.attributes['parse.error']).toMatch(/^json: invalid JSON: /);
    expect(out[1]!.timestamp).toBeUndefined();
    expect(out[1]!.severityNumber).toBeUndefined();
    expect(out[2]!.attributes).not.toHaveProperty('parse.error');
  });

  it('counts the lines that do not parse in malformed_events_total', async () => {
    const metrics = new ComponentMetrics('parse_test', 'transform', 'parse');
    const logger = { warn: () => undefined } as unknown as Logger;
    const stage = await parseTransform.build(parseConfig.parse({ format: 'json' }), { id: 'parse_test', logger, dataDir: '/tmp', configDir: '/tmp', metrics });
    await stage.map!([event('{"a":1}'), event('{"a":'), event('nope')]);
    await stage.map!([event('[]')]);
    expect(metrics.get('malformed_events_total')).toBe(3);
  });
});

describe('parse transform: logfmt', () => {
  it('parses pairs as strings and reads ts and level', async () => {
    const [e] = await run({ format: 'logfmt' }, ['ts=2025-01-01T12:00:00Z level=warn msg="disk \\"almost\\" full" pct=91\r']);
    expect(e!.body).toEqual({ ts: '2025-01-01T12:00:00Z', level: 'warn', msg: 'disk "almost" full', pct: '91' });
    expect(e!.timestamp).toBe(Date.UTC(2025, 0, 1, 12));
    expect([e!.severityText, e!.severityNumber]).toEqual(['warn', 13]);
  });

  it('reads an epoch ts written as a string', async () => {
    const [e] = await run({ format: 'logfmt' }, ['ts=1735732800.5 msg=hi']);
    expect(e!.timestamp).toBe(Date.UTC(2025, 0, 1, 12, 0, 0, 500));
  });

  it('marks prose as a failure', async () => {
    const [e] = await run({ format: 'logfmt' }, ['just some words']);
    expect(e!.body).toBe('just some words');
    expect(e!.attributes['parse.error']).toBe('logfmt: no key=value pairs found');
  });
});

describe('parse transform: nginx', () => {
  const line = (status: number) =>
    `66.249.73.185 - - [17/May/2015:10:05:22 +0000] "GET /doc/index.html HTTP/1.1" ${status} 294 "-" "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"`;

  it('sets the body, the time and a severity from the status', async () => {
    const out = await run({ format: 'nginx' }, [line(200), line(302), line(404), line(503)]);
    expect(out[0]!.body).toMatchObject({ remote_addr: '66.249.73.185', method: 'GET', path: '/doc/index.html', status: 200, body_bytes_sent: 294 });
    expect(out[0]!.timestamp).toBe(Date.UTC(2015, 4, 17, 10, 5, 22));
    expect(out.map((e) => [e.severityText, e.severityNumber])).toEqual([['INFO', 9], ['INFO', 9], ['WARN', 13], ['ERROR', 17]]);
  });

  it('parses nginx JSON lines as the demo input writes them', async () => {
    const [e] = await run({ format: 'nginx' }, ['{"timestamp":"2025-01-01T12:00:00Z","remote_addr":"192.168.1.1","request":"POST /login HTTP/1.1","status":500,"body_bytes_sent":153,"http_referer":"-","http_user_agent":"curl/8.5.0","response_time":0.05}']);
    expect(e!.body).toMatchObject({ method: 'POST', path: '/login', status: 500 });
    expect(e!.timestamp).toBe(Date.UTC(2025, 0, 1, 12));
    expect(e!.severityNumber).toBe(17);
  });

  it('sets no severity when a JSON line has no status', async () => {
    const [e] = await run({ format: 'nginx' }, ['{"remote_addr":"10.0.0.1"}']);
    expect(e!.body).toEqual({ remote_addr: '10.0.0.1' });
    expect(e!.severityNumber).toBeUndefined();
  });

  it('marks a syslog line fed to nginx as a failure', async () => {
    const [e] = await run({ format: 'nginx' }, ['Jun 14 15:16:01 combo sshd[1]: failure']);
    expect(e!.attributes['parse.error']).toMatch(/^nginx: no \[\$time_local\] found/);
    expect(e!.body).toBe('Jun 14 15:16:01 combo sshd[1]: failure');
  });
});

describe('parse transform: syslog', () => {
  it('moves the header into syslog.* attributes and the message into the body', async () => {
    const [e] = await run({ format: 'syslog' }, ['<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 8710 ID47 [exampleSDID@32473 iut="3" eventSource="Application"] An application event\r\n']);
    expect(e!.body).toBe('An application event');
    expect(e!.timestamp).toBe(Date.UTC(2003, 9, 11, 22, 14, 15, 3));
    expect([e!.severityText, e!.severityNumber]).toEqual(['notice', 10]);
    // The same attributes as the syslog input sets (one mapping serves both), the protocol included.
    expect(e!.attributes).toEqual({
      'syslog.protocol': 'rfc5424',
      'syslog.facility': 20,
      'syslog.facility_name': 'local4',
      'syslog.severity': 5,
      'syslog.hostname': 'mymachine.example.com',
      'syslog.appname': 'evntslog',
      'syslog.procid': '8710',
      'syslog.msgid': 'ID47',
      'syslog.structured_data': { 'exampleSDID@32473': { iut: '3', eventSource: 'Application' } },
    });
  });

  it('maps the eight syslog severities to OpenTelemetry numbers', async () => {
    const out = await run({ format: 'syslog' }, [0, 1, 2, 3, 4, 5, 6, 7].map((s) => `<${24 + s}>1 - host app - - - x`));
    expect(out.map((e) => [e.severityText, e.severityNumber])).toEqual([
      ['emerg', 23], ['alert', 22], ['crit', 21], ['err', 17], ['warning', 13], ['notice', 10], ['info', 9], ['debug', 5],
    ]);
    expect(out.every((e) => e.attributes['syslog.facility_name'] === 'daemon')).toBe(true);
  });

  it('parses file lines without PRI: no severity, no nil attributes', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date(2005, 7, 1));
    const [e] = await run({ format: 'syslog' }, ['Jun 14 15:16:01 combo sshd(pam_unix)[19939]: check pass; user unknown\r\n']);
    expect(e!.body).toBe('check pass; user unknown');
    expect(e!.timestamp).toBe(new Date(2005, 5, 14, 15, 16, 1).getTime());
    expect(e!.severityText).toBeUndefined();
    expect(e!.severityNumber).toBeUndefined();
    expect(e!.attributes).toEqual({ 'syslog.protocol': 'rfc3164', 'syslog.hostname': 'combo', 'syslog.appname': 'sshd(pam_unix)', 'syslog.procid': '19939' });
  });

  it('marks non-syslog text as a failure', async () => {
    const [e] = await run({ format: 'syslog' }, ['{"level":"info"}']);
    expect(e!.body).toBe('{"level":"info"}');
    expect(e!.attributes['parse.error']).toMatch(/^syslog: not a syslog line/);
    expect(e!.attributes).not.toHaveProperty('syslog.hostname');
  });
});

describe('parse transform: keep_original and field', () => {
  it('keeps the raw line in log.original only when asked and only on success', async () => {
    const kept = await run({ format: 'json', keep_original: true }, ['{"a":1}', 'oops']);
    expect(kept[0]!.attributes['log.original']).toBe('{"a":1}');
    expect(kept[1]!.attributes).not.toHaveProperty('log.original');
    expect(kept[1]!.attributes['parse.error']).toBeDefined();
    const dropped = await run({ format: 'json' }, ['{"a":1}']);
    expect(dropped[0]!.attributes).not.toHaveProperty('log.original');
  });

  it('reads the text from an attribute and puts the result in the body', async () => {
    const { stage } = await build({ format: 'logfmt', field: 'attributes.message', keep_original: true });
    const events = [
      event('container line', { message: 'level=error msg=boom' }),
      event('no attribute here'),
      event('attribute is a number', { message: 42 }),
      event('attribute already parsed', { message: { level: 'info' } }),
    ];
    await stage.map!(events);
    expect(events[0]!.body).toEqual({ level: 'error', msg: 'boom' });
    expect(events[0]!.severityNumber).toBe(17);
    expect(events[0]!.attributes['log.original']).toBe('level=error msg=boom');
    expect(events[1]!.body).toBe('no attribute here');
    expect(events[1]!.attributes['parse.error']).toBe('logfmt: attributes.message is missing');
    expect(events[2]!.attributes['parse.error']).toBe('logfmt: attributes.message is number, not a string');
    expect(events[3]!.body).toBe('attribute already parsed');
    expect(events[3]!.attributes).toEqual({ message: { level: 'info' } });
  });

  it('passes an already-parsed body unchanged', async () => {
    const body = { msg: 'already structured' };
    const [e] = await run({ format: 'json' }, [body]);
    expect(e!.body).toBe(body);
    expect(e!.attributes).toEqual({});
  });
});

describe('parse transform: failure reporting', () => {
  it('warns at most once per 10 s, with the count and the first error', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(1_000_000);
    const { stage, warnings } = await build({ format: 'json' });

    await stage.map!([event('bad one'), event('[2]'), event('{"ok":1}')]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.fields).toMatchObject({ failures: 2, total_failures: 2 });
    expect(warnings[0]!.fields.first_error).toMatch(/^json: invalid JSON: /);
    expect(warnings[0]!.message).toContain('did not parse as json');

    vi.setSystemTime(1_005_000);
    await stage.map!([event('[3]'), event('[4]'), event('[5]')]);
    expect(warnings).toHaveLength(1);

    vi.setSystemTime(1_010_000);
    await stage.map!([event('{"fine":true}')]);
    expect(warnings).toHaveLength(2);
    expect(warnings[1]!.fields).toEqual({ failures: 3, total_failures: 5, first_error: 'json: expected a JSON object, found array' });

    vi.setSystemTime(1_011_000);
    await stage.map!([event('{"fine":true}')]);
    expect(warnings).toHaveLength(2);
  });

  it("quotes none of a line's text in its error, in the log or in parse.error: the line may hold a secret", async () => {
    // V8 quotes a short line whole and ten characters either side of the error in a long one: before, the warning
    // (the daemon's log) and parse.error said `Unexpected token 'p', "password=hunter2" is not valid JSON`.
    const { stage, warnings } = await build({ format: 'json' });
    const lines = ['password=hunter2', `{"user":"bob","pad":"${'x'.repeat(40)}","token": TOKENVALUE123}`, 'hunter2-alone', 'undefined'];
    const out = await stage.map!(lines.map((l) => event(l)));
    const errors = out.map((e) => String(e.attributes['parse.error']));
    expect(errors.slice(0, 3)).toEqual(["json: invalid JSON: Unexpected token 'p'", "json: invalid JSON: Unexpected token 'T'", "json: invalid JSON: Unexpected token 'h'"]);
    expect(errors[3]).toMatch(/^json: invalid JSON: /);
    expect(warnings[0]!.fields.first_error).toBe("json: invalid JSON: Unexpected token 'p'");
    for (const said of [...errors, JSON.stringify(warnings)]) {
      for (const secret of ['hunter2', 'TOKENVALUE', 'undefined', 'assword']) expect(said).not.toContain(secret);
    }
  });

  it('reports what is left on flush, and nothing when all is well', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(2_000_000);
    const { stage, warnings } = await build({ format: 'logfmt' });
    await stage.map!([event('words only')]);
    await stage.map!([event('more words')]);
    expect(warnings).toHaveLength(1);
    expect(await stage.flush!()).toEqual([]);
    expect(warnings).toHaveLength(2);
    expect(warnings[1]!.fields).toMatchObject({ failures: 1, total_failures: 2 });
    await stage.flush!();
    expect(warnings).toHaveLength(2);

    const clean = await build({ format: 'logfmt' });
    await clean.stage.map!([event('a=1')]);
    await clean.stage.flush!();
    expect(clean.warnings).toEqual([]);
  });

  it('handles a large batch with failures: one rate-limited warning, not one per line', async () => {
    const { stage, warnings } = await build({ format: 'nginx' });
    const line = '203.0.113.9 - - [01/Jan/2025:12:00:00 +0000] "GET /api/v1/users HTTP/1.1" 200 1024 "-" "curl/8.5.0" 0.045';
    const events = Array.from({ length: 50_000 }, (_, i) => event(i % 10 === 0 ? 'garbage' : line));
    await stage.map!(events);
    expect(events.filter((e) => e.attributes['parse.error'] !== undefined)).toHaveLength(5_000);
    expect(warnings).toHaveLength(1);
  });
});

describe('parse: long lines', () => {
  it('leaves no short part of a long line holding the line: 300 logfmt lines of 200 KB through parse and the detector', async () => {
    // In a child with --expose-gc, on the built code, so that the heap can be measured after a full GC.
    const script = `
      const { Detector } = await import(${builtModule('dist/src/detector/index.js')});
      const { lineParser, toDetectorInput } = await import(${builtModule('dist/src/transforms/anomaly-detect.js')});
      const parse = await lineParser('logfmt');
      const d = new Detector();
      const name = (i) => { let s = ''; do { s += String.fromCharCode(97 + (i % 26)); i = Math.floor(i / 26); } while (i > 0); return s; };
      globalThis.gc(); const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < 300; i++) {
        // A short message and a short client id the detector keeps (a new value each line), and a big blob.
        const line = 'level=info msg="user logged in as ' + name(i * 7919) + '" client=' + 'client-' + name(i * 104729) + '-web blob=' + 'q'.repeat(200000) + name(i);
        const [event] = await parse([{ observedTimestamp: 1735689600000 + i * 1000, body: line, attributes: {}, source: { input: 'test' } }]);
        d.observe('s', toDetectorInput(event, null));
      }
      globalThis.gc();
      process.stdout.write(String(process.memoryUsage().heapUsed - before));`;
    const retained = Number(runWithGc(script));
    // 60 MB of lines went through; before, the message and client ids the detector kept held some 50 MB of them.
    expect(retained).toBeGreaterThan(0);
    expect(retained).toBeLessThan(8 * 2 ** 20);
  });
});
