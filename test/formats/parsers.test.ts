import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it, expect } from 'vitest';
import { epochToMs, parseJson, parseTimestamp, stripLineEnd, type ParseResult } from '../../src/formats/json.js';
import { parseLogfmt } from '../../src/formats/logfmt.js';
import { parseNginx, parseTimeLocal } from '../../src/formats/nginx.js';
import { parseSyslog } from '../../src/formats/syslog.js';

const DATASETS = path.resolve(import.meta.dirname, '../../../shared/datasets');
const APACHE_ACCESS = path.join(DATASETS, 'web/apache_access_2015.log');
const LINUX_SYSLOG = path.join(DATASETS, 'loghub/Linux_2k.log');
/** Said in the test's name when it is skipped, so that a clone elsewhere sees why (the datasets are not copied in). */
const needs = (file: string) => (existsSync(file) ? '' : ` (skipped: ${file} not found; the datasets are read from ../shared/datasets)`);

function ok<T>(result: ParseResult<T>): T {
  if (!result.ok) throw new Error(`expected success, got error: ${result.error}`);
  return result.value;
}

function err<T>(result: ParseResult<T>): string {
  if (result.ok) throw new Error(`expected an error, got ${JSON.stringify(result.value)}`);
  return result.error;
}

/** Runs a parser on hostile input; a super-linear parser would hang here until the runner's timeout. */
function timed<T>(fn: () => T): { value: T } {
  return { value: fn() };
}

const BIG = 100 * 1024;

describe('stripLineEnd', () => {
  it('drops exactly one CRLF, LF or CR', () => {
    expect(stripLineEnd('a\r\n')).toBe('a');
    expect(stripLineEnd('a\n')).toBe('a');
    expect(stripLineEnd('a\r')).toBe('a');
    expect(stripLineEnd('a\n\n')).toBe('a\n');
    expect(stripLineEnd('a ')).toBe('a ');
    expect(stripLineEnd('')).toBe('');
  });
});

describe('parseJson', () => {
  it('refuses nesting deeper than 64 levels, counting only brackets outside strings', () => {
    const nested = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
    expect(parseJson(nested(64)).ok).toBe(true);
    expect(parseJson(nested(65))).toEqual({ ok: false, error: 'JSON nested deeper than 64 levels' });
    // Brackets in strings are text: 200 of them in a flat object parse.
    expect(parseJson(JSON.stringify({ s: '{['.repeat(200) }))).toEqual({ ok: true, value: { s: '{['.repeat(200) } });
  });

  it('parses an object, nested values included', () => {
    expect(ok(parseJson('{"level":"info","msg":"hi","n":3,"ok":true,"tags":["a"],"ctx":{"id":null}}'))).toEqual({
      level: 'info', msg: 'hi', n: 3, ok: true, tags: ['a'], ctx: { id: null },
    });
  });

  it('strips a trailing CR and tolerates surrounding spaces', () => {
    expect(ok(parseJson('  {"a":"b"}  \r'))).toEqual({ a: 'b' });
    expect(ok(parseJson('{"a":"b"}\r\n'))).toEqual({ a: 'b' });
  });

  it.each([
    ['[1,2]', 'array'],
    ['42', 'number'],
    ['"text"', 'string'],
    ['true', 'boolean'],
    ['null', 'null'],
  ])('refuses the top-level value %s', (line, kind) => {
    expect(err(parseJson(line))).toBe(`expected a JSON object, found ${kind}`);
  });

  it('says what is wrong with invalid JSON', () => {
    expect(err(parseJson('{"a":1,"b":}'))).toMatch(/^invalid JSON: Unexpected token/);
    expect(err(parseJson('{"a":1'))).toMatch(/^invalid JSON: .*position 6/);
    expect(err(parseJson('level=info msg=hi'))).toMatch(/^invalid JSON: /);
  });

  it('refuses empty lines and non-strings', () => {
    expect(err(parseJson(''))).toBe('empty line');
    expect(err(parseJson('   \r\n'))).toBe('empty line');
    expect(err(parseJson(42 as unknown as string))).toBe('expected a string, got number');
    expect(err(parseJson(undefined as unknown as string))).toBe('expected a string, got undefined');
    expect(err(parseJson({ a: 1 } as unknown as string))).toBe('expected a string, got object');
  });

  it('parses a 100 KB line, and keeps the error of a 100 KB bad line short', () => {
    const long = 'x'.repeat(BIG);
    expect(ok(parseJson(JSON.stringify({ msg: long }))).msg).toBe(long);
    const error = err(parseJson(`{"msg":"${long}`));
    expect(error.startsWith('invalid JSON: ')).toBe(true);
    expect(error.length).toBeLessThanOrEqual(203);
  });

  it('keeps a __proto__ key as data', () => {
    const value = ok(parseJson('{"__proto__":{"polluted":true}}'));
    expect(Object.keys(value)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('parseTimestamp', () => {
  it('reads ISO 8601 with Z, offsets, a space or a comma', () => {
    expect(parseTimestamp('2025-01-01T12:00:00Z')).toBe(Date.UTC(2025, 0, 1, 12));
    expect(parseTimestamp('2025-01-01T12:00:00.250Z')).toBe(Date.UTC(2025, 0, 1, 12, 0, 0, 250));
    expect(parseTimestamp('2025-01-01T12:00:00.123456789Z')).toBe(Date.UTC(2025, 0, 1, 12, 0, 0, 123));
    expect(parseTimestamp('2025-01-01T14:00:00+02:00')).toBe(Date.UTC(2025, 0, 1, 12));
    expect(parseTimestamp('2025-01-01T14:00:00+0200')).toBe(Date.UTC(2025, 0, 1, 12));
    expect(parseTimestamp('2025-01-01T14:00:00+02')).toBe(Date.UTC(2025, 0, 1, 12));
    expect(parseTimestamp('2025-01-01 12:00:00Z')).toBe(Date.UTC(2025, 0, 1, 12));
    expect(parseTimestamp('2025-01-01 12:00:00,500Z')).toBe(Date.UTC(2025, 0, 1, 12, 0, 0, 500));
  });

  it('gives what the ISO 8601 pattern and Date.parse give, for 20,000 near-valid timestamps (the hand-read fast path included)', () => {
    // The general way, as parseTimestamp reads any ISO string: the oracle for the hand-read common shape.
    const general = (v: string): number | undefined => {
      if (!/^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|z|[+-]\d{2}(?::?\d{2})?)?)?$/.test(v)) return undefined;
      // A day its month does not have is refused (Date.parse would roll February 30 over into March).
      const [y, mo, d] = [Number(v.slice(0, 4)), Number(v.slice(5, 7)), Number(v.slice(8, 10))];
      if (mo >= 1 && mo <= 12 && d > new Date(Date.UTC(2000 + (y % 400), mo, 0)).getUTCDate()) return undefined;
      let iso = v;
      if (iso.charCodeAt(10) === 32) iso = `${iso.slice(0, 10)}T${iso.slice(11)}`;
      iso = iso.replace(',', '.');
      if (/[+-]\d{2}$/.test(iso)) iso += ':00';
      const ms = Date.parse(iso);
      return Number.isNaN(ms) ? undefined : ms;
    };
    let seed = 42;
    const pick = <T>(xs: readonly T[]): T => {
      seed = (seed * 16807) % 2147483647;
      return xs[seed % xs.length]!;
    };
    const two = (xs: number[]) => pick(xs).toString().padStart(2, '0');
    let fast = 0;
    for (let k = 0; k < 20_000; k++) {
      const v = `${pick(['2025', '2025', '2025', '1999', '0999', '2024', '20x5'])}-${two([1, 2, 9, 12, 12, 0, 13])}-${two([1, 9, 28, 28, 28, 29, 30, 31, 0, 32])}` +
        `${pick(['T', 'T', 'T', ' ', 't'])}${two([0, 9, 23, 23, 24])}:${two([0, 30, 59, 59, 60])}:${two([0, 30, 59, 59, 60, 61])}` +
        `${pick(['', '', '.', '.5', '.25', '.123', '.1234', '.123456', '.123456789', '.1234567890', ',5', '.x'])}` +
        `${pick(['Z', 'Z', 'z', '', '+02:00', '-05:30', '+23:59', '+24:00', '-00:60', '+0200', '+02', 'Zx', '+2:00'])}`;
      const got = parseTimestamp(v);
      expect(got, v).toBe(general(v));
      if (got !== undefined && /T\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v)) fast += 1;
    }
    expect(fast).toBeGreaterThan(500);
  });

  it('counts the days of the hand-read shape as Date.UTC does, in every month of the years 1000 to 9999', () => {
    const pad = (n: number, w: number) => String(n).padStart(w, '0');
    for (let y = 1000; y <= 9999; y++) {
      for (let m = 1; m <= 12; m++) {
        for (const d of [1, 28]) {
          const v = `${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}T23:59:59.999Z`;
          const got = parseTimestamp(v);
          if (got !== Date.UTC(y, m - 1, d, 23, 59, 59, 999)) expect(got, v).toBe(Date.UTC(y, m - 1, d, 23, 59, 59, 999));
        }
      }
    }
  });

  it('reads ISO 8601 without an offset as local time', () => {
    expect(parseTimestamp('2025-01-01T12:00:00')).toBe(new Date(2025, 0, 1, 12).getTime());
  });

  it('reads epoch seconds, ms, µs and ns, as numbers or numeric strings', () => {
    const ms = Date.UTC(2024, 4, 1, 10, 0, 0, 500);
    expect(parseTimestamp(ms / 1000)).toBe(ms);
    expect(parseTimestamp(ms)).toBe(ms);
    expect(parseTimestamp(ms * 1000)).toBe(ms);
    expect(parseTimestamp(ms * 1e6)).toBe(ms);
    expect(parseTimestamp(String(ms / 1000))).toBe(ms);
    expect(parseTimestamp(String(ms))).toBe(ms);
  });

  it('refuses what is not a time', () => {
    expect(parseTimestamp('1')).toBeUndefined(); // Date.parse would say 2001
    expect(parseTimestamp(0.05)).toBeUndefined(); // a duration, not a date
    expect(parseTimestamp(-5)).toBeUndefined();
    expect(parseTimestamp('yesterday')).toBeUndefined();
    expect(parseTimestamp('2025-13-45T12:00:00Z')).toBeUndefined();
    expect(parseTimestamp(true)).toBeUndefined();
    expect(parseTimestamp(null)).toBeUndefined();
    expect(parseTimestamp({})).toBeUndefined();
    expect(epochToMs(Number.NaN)).toBeUndefined();
    expect(epochToMs(Number.POSITIVE_INFINITY)).toBeUndefined();
    // Beyond the latest time a Date holds, in any unit: no time (a Date of it threw later on).
    expect(epochToMs(1e22)).toBeUndefined();
    expect(parseTimestamp('10000000000000000000000')).toBeUndefined();
    expect(epochToMs(8.64e21)).toBe(8.64e15);
  });
});

describe('parseLogfmt', () => {
  it('parses pairs, quoted values and bare keys; values stay strings', () => {
    expect(ok(parseLogfmt('time=2025-01-01T12:00:00Z level=info msg="user logged in" user_id=42 latency=0.05 cached'))).toEqual({
      time: '2025-01-01T12:00:00Z', level: 'info', msg: 'user logged in', user_id: '42', latency: '0.05', cached: true,
    });
  });

  it('decodes escapes in quoted values', () => {
    expect(ok(parseLogfmt('msg="say \\"hi\\"" path="C:\\\\temp" multi="a\\nb\\tc"'))).toEqual({
      msg: 'say "hi"', path: 'C:\\temp', multi: 'a\nb\tc',
    });
    expect(ok(parseLogfmt('u="caf\\u00e9" odd="keep \\q as is" end="trailing\\\\"'))).toEqual({
      u: 'café', odd: 'keep \\q as is', end: 'trailing\\',
    });
  });

  it('handles empty values, = inside bare values, tabs, runs of spaces, CRLF and duplicates', () => {
    expect(ok(parseLogfmt('a= b="" c=x=y\td=1    e=2\r\n'))).toEqual({ a: '', b: '', c: 'x=y', d: '1', e: '2' });
    expect(ok(parseLogfmt('k=1 k=2'))).toEqual({ k: '2' });
    expect(ok(parseLogfmt('  leading=yes'))).toEqual({ leading: 'yes' });
  });

  it('keeps a quoted value with spaces and = signs whole', () => {
    expect(ok(parseLogfmt('query="a=1 b=2" n=3'))).toEqual({ query: 'a=1 b=2', n: '3' });
  });

  it('refuses lines without a single key=value pair', () => {
    expect(err(parseLogfmt('hello world'))).toBe('no key=value pairs found');
    expect(err(parseLogfmt('Jun 14 15:16:01 combo sshd[1]: failure'))).toBe('no key=value pairs found');
    expect(err(parseLogfmt(''))).toBe('empty line');
    expect(err(parseLogfmt('   \r\n'))).toBe('empty line');
  });

  it('refuses text over several lines (a Go panic joined by the go preset), whose words would become bare keys', () => {
    const panic = 'panic: runtime error: invalid memory address or nil pointer dereference\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x6b8a4d]\n\ngoroutine 1 [running]:\nmain.main()\n\t/app/main.go:12 +0x1d';
    expect(err(parseLogfmt(panic))).toBe('line break at position 71: a logfmt record is one line');
    expect(err(parseLogfmt('level=error msg=boom\n\tat x.y(Z.java:1)'))).toMatch(/^line break at position 20/);
    // A line break inside a quoted value, or ending the line, is not one between records.
    expect(ok(parseLogfmt('msg="two\nlines" n=1'))).toEqual({ msg: 'two\nlines', n: '1' });
    expect(ok(parseLogfmt('a=1\r\n'))).toEqual({ a: '1' });
  });

  it('explains structural errors', () => {
    expect(err(parseLogfmt('=value'))).toBe("missing key before '=' at position 0");
    expect(err(parseLogfmt('a=1 =2'))).toBe("missing key before '=' at position 4");
    expect(err(parseLogfmt('msg="never closed'))).toBe("unterminated quoted value for key 'msg'");
    expect(err(parseLogfmt('msg="ends with escape\\"'))).toBe("unterminated quoted value for key 'msg'");
    expect(err(parseLogfmt('a="b"c'))).toBe("expected a space after the quoted value of 'a' at position 5");
    expect(err(parseLogfmt('"key"=v'))).toBe("unexpected '\"' at position 0: keys cannot be quoted");
    expect(err(parseLogfmt(null as unknown as string))).toBe('expected a string, got null');
    expect(err(parseLogfmt(['a=b'] as unknown as string))).toBe('expected a string, got array');
  });

  it('stores a __proto__ key as data', () => {
    const value = ok(parseLogfmt('__proto__=x a=1'));
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(['__proto__', 'a']);
    expect(value['__proto__']).toBe('x');
  });

  it('parses 100 KB values and fails fast on 100 KB of hostile input', () => {
    const long = 'v'.repeat(BIG);
    expect(ok(parseLogfmt(`a=${long} b="${long}"`))).toEqual({ a: long, b: long });
    const hostile = timed(() => parseLogfmt(`a="${'\\"'.repeat(BIG / 2)}`));
    expect(hostile.value.ok).toBe(false);
    const manyKeys = timed(() => parseLogfmt('k '.repeat(BIG / 2) + 'x=1'));
    expect(Object.keys(ok(manyKeys.value))).toEqual(['k', 'x']);
  });
});

describe('parseTimeLocal', () => {
  it('reads $time_local with its offset', () => {
    expect(parseTimeLocal('10/Oct/2000:13:55:36 -0700')).toBe(Date.UTC(2000, 9, 10, 20, 55, 36));
    expect(parseTimeLocal('17/May/2015:10:05:03 +0000')).toBe(Date.UTC(2015, 4, 17, 10, 5, 3));
    expect(parseTimeLocal('01/Jan/2025:05:30:00 +0530')).toBe(Date.UTC(2025, 0, 1, 0, 0, 0));
    expect(parseTimeLocal('01/jan/2025:00:00:00.250 +0000')).toBe(Date.UTC(2025, 0, 1, 0, 0, 0, 250));
  });

  it('refuses other shapes and impossible values', () => {
    expect(parseTimeLocal('2025-01-01T00:00:00Z')).toBeUndefined();
    expect(parseTimeLocal('10/Foo/2000:13:55:36 -0700')).toBeUndefined();
    expect(parseTimeLocal('10/Oct/2000:25:55:36 -0700')).toBeUndefined();
    expect(parseTimeLocal('10/Oct/2000:13:55:36')).toBeUndefined();
  });
});

describe('parseNginx (combined format)', () => {
  it('parses an Apache access line from the 2015 dataset', () => {
    const line =
      '83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1" 200 203023 "http://semicomplete.com/presentations/logstash-monitorama-2013/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36"';
    const { record, timestamp } = ok(parseNginx(line));
    expect(record).toEqual({
      remote_addr: '83.149.9.216',
      time_local: '17/May/2015:10:05:03 +0000',
      request: 'GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1',
      method: 'GET',
      path: '/presentations/logstash-monitorama-2013/images/kibana-search.png',
      protocol: 'HTTP/1.1',
      status: 200,
      body_bytes_sent: 203023,
      http_referer: 'http://semicomplete.com/presentations/logstash-monitorama-2013/',
      http_user_agent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36',
    });
    expect(record).not.toHaveProperty('remote_user');
    expect(timestamp).toBe(Date.UTC(2015, 4, 17, 10, 5, 3));
  });

  it("reads Apache's '-' byte count as 0, and 4xx/5xx and POST lines", () => {
    const r500 = ok(parseNginx('66.249.73.135 - - [18/May/2015:03:05:34 +0000] "GET /misc/Title.php.txt HTTP/1.1" 500 - "-" "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"'));
    expect(r500.record.status).toBe(500);
    expect(r500.record.body_bytes_sent).toBe(0);
    expect(r500.record.http_referer).toBe('-');
    const post = ok(parseNginx('37.115.186.244 - - [19/May/2015:04:05:16 +0000] "POST /blog/geekery/xvfb-firefox HTTP/1.0" 200 10975 "http://zoomq.qiniudn.com/ZQScrapBook/ZqFLOSS/data/20110811235550/" "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.11 (KHTML, like Gecko) Chrome/23.0.1271.91 Safari/537.11"'));
    expect(post.record).toMatchObject({ method: 'POST', path: '/blog/geekery/xvfb-firefox', protocol: 'HTTP/1.0', body_bytes_sent: 10975 });
  });

  it('keeps the rest of a line cut short inside the user agent', () => {
    const { record } = ok(parseNginx('46.118.127.106 - - [20/May/2015:12:05:17 +0000] "GET /scripts/grok-py-test/configlib.py HTTP/1.1" 200 235 "-" "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html'));
    expect(record.http_user_agent).toBe('Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html');
    expect(record.status).toBe(200);
  });

  it('keeps remote_user and an ident other than "-"', () => {
    const { record } = ok(parseNginx('10.0.0.5 ident frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"'));
    expect(record.remote_user).toBe('frank');
    expect(record.remote_ident).toBe('ident');
    expect(record.http_user_agent).toBe('Mozilla/4.08 [en] (Win98; I ;Nav)');
  });

  it('unescapes \\" and \\\\ inside quoted fields', () => {
    const { record } = ok(parseNginx(String.raw`1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /q?s=\"x\" HTTP/1.1" 400 0 "-" "sqlmap \"1.0\" \\ end\\"`));
    expect(record.request).toBe('GET /q?s="x" HTTP/1.1');
    expect(record.path).toBe('/q');
    expect(record.query).toBe('s="x"');
    expect(record.http_user_agent).toBe('sqlmap "1.0" \\ end\\');
    expect(record.status).toBe(400);
  });

  it("keeps nginx's \\xHH escapes as written", () => {
    const { record } = ok(parseNginx(String.raw`1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "\x16\x03\x01\x00" 400 150 "-" "-"`));
    expect(record.request).toBe(String.raw`\x16\x03\x01\x00`);
    expect(record).not.toHaveProperty('method');
    expect(record).not.toHaveProperty('path');
  });

  it('splits requests with spaces in the path or no protocol, and leaves "-" alone', () => {
    expect(ok(parseNginx('1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /a b HTTP/1.1" 404 0 "-" "-"')).record).toMatchObject({ method: 'GET', path: '/a b', protocol: 'HTTP/1.1' });
    const noProtocol = ok(parseNginx('1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /index.html" 200 10 "-" "-"')).record;
    expect(noProtocol).toMatchObject({ method: 'GET', path: '/index.html' });
    expect(noProtocol).not.toHaveProperty('protocol');
    // The query string apart from the path, as nginx's $uri and $args; an empty one is kept, none is absent.
    expect(ok(parseNginx('1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /search?q=a+b&page=2 HTTP/1.1" 200 10 "-" "-"')).record)
      .toMatchObject({ path: '/search', query: 'q=a+b&page=2', protocol: 'HTTP/1.1' });
    expect(ok(parseNginx('1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /a? HTTP/1.1" 200 10 "-" "-"')).record).toMatchObject({ path: '/a', query: '' });
    expect(noProtocol).not.toHaveProperty('query');
    const dash = ok(parseNginx('1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "-" 408 0 "-" "-"')).record;
    expect(dash.request).toBe('-');
    expect(dash).not.toHaveProperty('method');
  });

  it('reads a trailing request time, and keeps other trailing fields as extra', () => {
    const demo = ok(parseNginx('203.0.113.9 - - [01/Jan/2025:12:00:00 +0000] "GET /health HTTP/1.1" 200 2 "-" "kube-probe/1.31" 0.045')).record;
    expect(demo.request_time).toBe(0.045);
    expect(demo).not.toHaveProperty('extra');
    const both = ok(parseNginx('203.0.113.9 - - [01/Jan/2025:12:00:00 +0000] "GET / HTTP/1.1" 200 2 "-" "curl/8.5.0" 1.250 "10.0.0.1, 10.0.0.2"')).record;
    expect(both.request_time).toBe(1.25);
    expect(both.extra).toBe('"10.0.0.1, 10.0.0.2"');
    const forwarded = ok(parseNginx('203.0.113.9 - - [01/Jan/2025:12:00:00 +0000] "GET / HTTP/1.1" 200 2 "-" "curl/8.5.0" "198.51.100.7"')).record;
    expect(forwarded).not.toHaveProperty('request_time');
    expect(forwarded.extra).toBe('"198.51.100.7"');
  });

  it('accepts the common format (no referer, no user agent)', () => {
    const { record, timestamp } = ok(parseNginx('127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326'));
    expect(record).toEqual({
      remote_addr: '127.0.0.1', remote_user: 'frank', time_local: '10/Oct/2000:13:55:36 -0700',
      request: 'GET /apache_pb.gif HTTP/1.0', method: 'GET', path: '/apache_pb.gif', protocol: 'HTTP/1.0',
      status: 200, body_bytes_sent: 2326,
    });
    expect(timestamp).toBe(Date.UTC(2000, 9, 10, 20, 55, 36));
  });

  it('strips CRLF, and keeps the record when time_local is unreadable', () => {
    const crlf = ok(parseNginx('1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "curl/8"\r\n'));
    expect(crlf.record.http_user_agent).toBe('curl/8');
    const badTime = ok(parseNginx('1.2.3.4 - - [sometime] "GET / HTTP/1.1" 200 5 "-" "curl/8"'));
    expect(badTime.timestamp).toBeUndefined();
    expect(badTime.record.time_local).toBe('sometime');
  });

  it('explains lines that are not access lines', () => {
    expect(err(parseNginx('hello'))).toMatch(/^not an access log line: expected \$remote_addr/);
    expect(err(parseNginx('Jun 14 15:16:01 combo sshd[1]: failure'))).toMatch(/^no \[\$time_local\] found/);
    expect(err(parseNginx('1.2.3.4 - - [10/Oct/2000:13:55:36 -0700 "GET / HTTP/1.1" 200 5'))).toBe('unterminated [$time_local]');
    expect(err(parseNginx('1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] GET / 200 5'))).toBe(`expected ' "' after [$time_local] at position 40`);
    expect(err(parseNginx('1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1 200 5'))).toBe('unterminated quoted $request');
    expect(err(parseNginx('1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" OK 5'))).toBe('$status is not a number (2 characters: letters)');
    expect(err(parseNginx('1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200'))).toBe('missing $body_bytes_sent after $status');
    expect(err(parseNginx('1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 lots'))).toBe('$body_bytes_sent is not a number (4 characters: letters)');
    expect(err(parseNginx('1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "never closed'))).toBe('unterminated quoted $http_referer');
    expect(err(parseNginx(''))).toBe('empty line');
    expect(err(parseNginx(' \r\n'))).toBe('empty line');
    expect(err(parseNginx(7 as unknown as string))).toBe('expected a string, got number');
  });

  it('parses a 100 KB user agent and fails fast on hostile input', () => {
    const ua = 'A'.repeat(BIG);
    expect(ok(parseNginx(`1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "${ua}"`)).record.http_user_agent).toBe(ua);
    const backslashes = timed(() => parseNginx(`1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "${'\\"'.repeat(BIG / 2)}`));
    expect(backslashes.value.ok).toBe(false);
    const spaces = timed(() => parseNginx(`1.2.3.4${' -'.repeat(BIG / 2)}`));
    expect(spaces.value.ok).toBe(false);
  });

  it.skipIf(!existsSync(APACHE_ACCESS))(`parses every line of apache_access_2015.log${needs(APACHE_ACCESS)}`, () => {
    const lines = readFileSync(APACHE_ACCESS, 'utf8').split('\n').filter((l) => l !== '');
    expect(lines.length).toBe(10_000);
    const failures = lines.map((l) => parseNginx(l)).filter((r) => !r.ok || r.value.timestamp === undefined);
    expect(failures).toEqual([]);
  });
});

describe('parseNginx (JSON lines)', () => {
  it('parses the nginx JSON shape and reads its timestamp', () => {
    const { record, timestamp } = ok(parseNginx('{"timestamp":"2025-01-01T12:00:00Z","remote_addr":"192.168.1.1","request":"GET /api/v1/users HTTP/1.1","status":200,"body_bytes_sent":1024,"http_referer":"https://example.com","http_user_agent":"Mozilla/5.0","response_time":0.050}'));
    expect(timestamp).toBe(Date.UTC(2025, 0, 1, 12));
    expect(record).toMatchObject({ remote_addr: '192.168.1.1', method: 'GET', path: '/api/v1/users', protocol: 'HTTP/1.1', status: 200, body_bytes_sent: 1024, response_time: 0.05 });
  });

  it('turns quoted numbers into numbers and drops a "-" remote_user', () => {
    const { record } = ok(parseNginx('{"remote_user":"-","status":"404","body_bytes_sent":"153","request_time":"0.003","request":"GET /x HTTP/2.0"}'));
    expect(record.status).toBe(404);
    expect(record.body_bytes_sent).toBe(153);
    expect(record.request_time).toBe(0.003);
    expect(record).not.toHaveProperty('remote_user');
  });

  it('splits the request of a JSON line into method, path and query, keeping a query field of its own', () => {
    expect(ok(parseNginx('{"request":"GET /s?q=a&p=2 HTTP/1.1"}')).record).toMatchObject({ method: 'GET', path: '/s', query: 'q=a&p=2', protocol: 'HTTP/1.1' });
    expect(ok(parseNginx('{"request":"GET /s?q=a HTTP/1.1","query":"from $args"}')).record).toMatchObject({ path: '/s', query: 'from $args' });
  });

  it('reads time from time_local, time_iso8601, @timestamp or time', () => {
    expect(ok(parseNginx('{"time_local":"10/Oct/2000:13:55:36 -0700","status":200}')).timestamp).toBe(Date.UTC(2000, 9, 10, 20, 55, 36));
    expect(ok(parseNginx('{"time_iso8601":"2025-01-01T13:00:00+01:00"}')).timestamp).toBe(Date.UTC(2025, 0, 1, 12));
    expect(ok(parseNginx('{"@timestamp":"2025-01-01T12:00:00.5Z"}')).timestamp).toBe(Date.UTC(2025, 0, 1, 12, 0, 0, 500));
    expect(ok(parseNginx('{"time":"10/Oct/2000:13:55:36 +0000"}')).timestamp).toBe(Date.UTC(2000, 9, 10, 13, 55, 36));
    expect(ok(parseNginx('{"status":200}')).timestamp).toBeUndefined();
  });

  it('keeps method/path already in the JSON and reports JSON errors', () => {
    const { record } = ok(parseNginx('  {"request":"GET / HTTP/1.1","method":"HEAD"}\r'));
    expect(record.method).toBe('HEAD');
    expect(record).not.toHaveProperty('path');
    expect(err(parseNginx('{"status":'))).toMatch(/^invalid JSON: /);
  });
});

describe('parseSyslog (RFC 5424)', () => {
  it('parses the RFC examples: nil values and a BOM before MSG', () => {
    const m = ok(parseSyslog("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \uFEFF'su root' failed for lonvick on /dev/pts/8"));
    expect(m).toEqual({
      protocol: 'rfc5424', facility: 4, facility_name: 'auth', severity: 2, severity_name: 'crit', version: 1,
      timestamp: Date.UTC(2003, 9, 11, 22, 14, 15, 3), hostname: 'mymachine.example.com', appname: 'su',
      procid: undefined, msgid: 'ID47', structured_data: undefined, message: "'su root' failed for lonvick on /dev/pts/8",
    });
  });

  it('reads offsets and microseconds', () => {
    const m = ok(parseSyslog("<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts."));
    expect(m.timestamp).toBe(Date.UTC(2003, 7, 24, 12, 14, 15));
    expect(m).toMatchObject({ facility: 20, facility_name: 'local4', severity: 5, severity_name: 'notice', procid: '8710', message: "%% It's time to make the do-nuts." });
    expect(m.msgid).toBeUndefined();
  });

  it('parses structured data, several elements, and no MSG', () => {
    const m = ok(parseSyslog('<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]'));
    expect(m.structured_data).toEqual({
      'exampleSDID@32473': { iut: '3', eventSource: 'Application', eventID: '1011' },
      'examplePriority@32473': { class: 'high' },
    });
    expect(m.message).toBe('');
  });

  it('unescapes \\" \\\\ and \\] in PARAM-VALUE and keeps other backslashes', () => {
    const m = ok(parseSyslog(String.raw`<14>1 2025-01-01T00:00:00Z h a - - [x@1 q="say \"hi\"" b="C:\\dir" r="a\]b" o="keep\n" raw="a]b" e=""][y@1] msg [not sd]`));
    expect(m.structured_data).toEqual({ 'x@1': { q: 'say "hi"', b: 'C:\\dir', r: 'a]b', o: 'keep\\n', raw: 'a]b', e: '' }, 'y@1': {} });
    expect(m.message).toBe('msg [not sd]');
  });

  it('stores __proto__ as an SD-ID and PARAM-NAME without touching prototypes', () => {
    const sd = ok(parseSyslog('<14>1 - h a - - [__proto__ __proto__="x" ok="1"] m')).structured_data!;
    expect(Object.getPrototypeOf(sd)).toBe(Object.prototype);
    expect(Object.keys(sd)).toEqual(['__proto__']);
    const params = sd['__proto__']!;
    expect(Object.getPrototypeOf(params)).toBe(Object.prototype);
    expect(Object.keys(params)).toEqual(['__proto__', 'ok']);
    expect(params['__proto__']).toBe('x');
  });

  it('merges a repeated SD-ID', () => {
    expect(ok(parseSyslog('<14>1 - h a - - [id a="1"][id b="2"] m')).structured_data).toEqual({ id: { a: '1', b: '2' } });
  });

  it('accepts an all-nil header', () => {
    const m = ok(parseSyslog('<14>1 - - - - - -'));
    expect(m).toMatchObject({ facility: 1, facility_name: 'user', severity: 6, severity_name: 'info', message: '' });
    expect(m.timestamp).toBeUndefined();
    expect(m.hostname).toBeUndefined();
    expect(m.appname).toBeUndefined();
  });

  it('strips CRLF and keeps spaces inside MSG', () => {
    expect(ok(parseSyslog('<13>1 2025-01-01T00:00:00Z host app 1 - -  two  spaces \r\n')).message).toBe(' two  spaces ');
  });

  it('covers PRI extremes', () => {
    expect(ok(parseSyslog('<0>1 - - - - - - x'))).toMatchObject({ facility: 0, facility_name: 'kern', severity: 0, severity_name: 'emerg' });
    expect(ok(parseSyslog('<191>1 - - - - - - x'))).toMatchObject({ facility: 23, facility_name: 'local7', severity: 7, severity_name: 'debug' });
    expect(ok(parseSyslog('<27>1 - - - - - - x'))).toMatchObject({ facility: 3, facility_name: 'daemon', severity: 3, severity_name: 'err' });
  });

  it("quotes no secret of the line in its errors: a value's shape only, a name with the detector's secrets masked", () => {
    // A line whose fields are shifted puts any of its text where a number or a time was expected: before, the
    // error (in the daemon's log and parse.error) quoted up to 40 characters of it, `$status is not a number:
    // 'hunter2'`, `invalid RFC 5424 timestamp 's3cr3t-Passw0rd'`.
    const access = '1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1"';
    expect(err(parseNginx(`${access} hunter2 5`))).toBe('$status is not a number (7 characters: letters, digits)');
    expect(err(parseNginx(`${access} 200 AKIAIOSFODNN7EXAMPLE`))).toBe('$body_bytes_sent is not a number (20 characters: letters, digits)');
    expect(err(parseNginx(`${access} "-" 5`))).toBe('$status is not a number (3 characters: ", -)');
    expect(err(parseSyslog('<14>1 s3cr3t-Passw0rd host app - - - msg'))).toBe('invalid RFC 5424 timestamp (15 characters: letters, digits, -)');
    // Names are quoted, with what the detector masks shown as it shows it: a token known by its form, a URL's password.
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl';
    expect(err(parseLogfmt(`${jwt}="never closed`))).toBe("unterminated quoted value for key '<secret>'");
    expect(err(parseLogfmt('db=postgres://app:s3cr3t@db/x url="a"b'))).toBe("expected a space after the quoted value of 'url' at position 37");
    expect(err(parseLogfmt('postgres://app:s3cr3t@db/x="a"b'))).toBe("expected a space after the quoted value of 'postgres://app:<secret>@db/x' at position 30");
    expect(err(parseSyslog(`<14>1 - h a p m [${jwt} a=b] x`))).toBe(`expected '="' after PARAM-NAME in [<secret>] at position ${19 + jwt.length}`);
    expect(err(parseSyslog(`<14>1 - h a p m [id ${jwt}="b] x`))).toBe('unterminated PARAM-VALUE for id.<secret>');
  });

  it('explains malformed lines', () => {
    expect(err(parseSyslog('<192>1 - - - - - - x'))).toBe('invalid PRI <192>: the highest is 191');
    expect(err(parseSyslog('<abc>1 - - - - - - x'))).toBe('invalid PRI: expected <0> to <191> at the start');
    expect(err(parseSyslog('<>x'))).toBe('invalid PRI: expected <0> to <191> at the start');
    expect(err(parseSyslog('<13'))).toBe('invalid PRI: expected <0> to <191> at the start');
    expect(err(parseSyslog('<14>1 yesterday host app - - - msg'))).toBe('invalid RFC 5424 timestamp (9 characters: letters)');
    expect(err(parseSyslog('<14>1 2025-01-01T00:00:00 host app - - - msg'))).toBe('invalid RFC 5424 timestamp (19 characters: letters, digits, -, :)');
    expect(err(parseSyslog('<14>1 2025-01-01T00:00:00Z host'))).toMatch(/^truncated RFC 5424 header/);
    expect(err(parseSyslog('<14>1 - h  a p m - x'))).toBe("empty APP-NAME at position 10: RFC 5424 writes '-' for a missing field");
    expect(err(parseSyslog('<14>1 - h a p m'))).toBe('truncated RFC 5424 header: missing STRUCTURED-DATA after MSGID');
    expect(err(parseSyslog('<14>1 - h a p m msg'))).toBe("expected STRUCTURED-DATA ('-' or '[') at position 16");
    expect(err(parseSyslog('<14>1 - h a p m [id a=b] x'))).toBe(`expected '="' after PARAM-NAME in [id] at position 21`);
    expect(err(parseSyslog('<14>1 - h a p m [id a="b] x'))).toBe('unterminated PARAM-VALUE for id.a');
    expect(err(parseSyslog('<14>1 - h a p m [id a="b"'))).toBe("expected ']' to close [id] at position 25");
    expect(err(parseSyslog('<14>1 - h a p m []'))).toBe('empty SD-ID at position 17');
    expect(err(parseSyslog('<14>1 - h a p m -x'))).toBe('expected a space after STRUCTURED-DATA at position 17');
  });

  it('parses 100 KB messages and fails fast on hostile structured data', () => {
    const long = 'm'.repeat(BIG);
    expect(ok(parseSyslog(`<14>1 - h a - - - ${long}`)).message).toBe(long);
    const hostile = timed(() => parseSyslog(`<14>1 - h a - - [id a="${'\\"'.repeat(BIG / 2)}`));
    expect(hostile.value.ok).toBe(false);
  });
});

describe('parseSyslog (RFC 3164)', () => {
  const oct2003 = new Date(2003, 9, 12, 0, 0, 0).getTime();

  it('parses the RFC example', () => {
    const m = ok(parseSyslog("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8", oct2003));
    expect(m).toEqual({
      protocol: 'rfc3164', facility: 4, facility_name: 'auth', severity: 2, severity_name: 'crit', version: undefined,
      timestamp: new Date(2003, 9, 11, 22, 14, 15).getTime(), hostname: 'mymachine', appname: 'su', procid: undefined,
      msgid: undefined, structured_data: undefined, message: "'su root' failed for lonvick on /dev/pts/8",
    });
  });

  it('reads TAG[PID], and a tag without a colon as rsyslog does', () => {
    const m = ok(parseSyslog('<86>Feb  5 17:32:18 web01 sshd[4123]: Accepted publickey for deploy', oct2003));
    expect(m).toMatchObject({ facility: 10, facility_name: 'authpriv', severity: 6, hostname: 'web01', appname: 'sshd', procid: '4123', message: 'Accepted publickey for deploy' });
    // RFC 3164's own example; rsyslog (and the RFC: a tag ends at the first character that is not alphanumeric)
    // reads 'Use' as the tag.
    const noColon = ok(parseSyslog('<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!', oct2003));
    expect(noColon).toMatchObject({ hostname: '10.0.0.99', appname: 'Use', procid: undefined, message: 'the BFG!' });
    const withPid = ok(parseSyslog("<34>Oct 11 22:14:15 mymachine su[123] 'su root' failed", oct2003));
    expect(withPid).toMatchObject({ hostname: 'mymachine', appname: 'su', procid: '123', message: "'su root' failed" });
    // The tag ends at the first colon; the app name at the first '[' in the tag, the process id at the next ']'.
    expect(ok(parseSyslog('<13>Oct 11 22:14:15 host a:b: hi', oct2003))).toMatchObject({ appname: 'a', message: 'b: hi' });
    expect(ok(parseSyslog('<13>Oct 11 22:14:15 host app:x', oct2003))).toMatchObject({ appname: 'app', message: 'x' });
    expect(ok(parseSyslog('<13>Oct 11 22:14:15 host app[1][2]: x', oct2003))).toMatchObject({ appname: 'app', procid: '1', message: 'x' });
    expect(ok(parseSyslog('<13>Oct 11 22:14:15 host app[12 x', oct2003))).toMatchObject({ appname: 'app', procid: undefined, message: 'x' });
    expect(ok(parseSyslog('<13>Oct 11 22:14:15 host postfix/smtpd[9]: x', oct2003))).toMatchObject({ appname: 'postfix/smtpd', procid: '9' });
    // Nothing after the hostname, or a second space: no tag.
    expect(ok(parseSyslog('<13>Oct 11 22:14:15 host', oct2003))).toMatchObject({ hostname: 'host', appname: undefined, message: '' });
    expect(ok(parseSyslog('<13>Oct 11 22:14:15 host app', oct2003))).toMatchObject({ hostname: 'host', appname: 'app', message: '' });
  });

  it('tolerates a missing hostname', () => {
    const m = ok(parseSyslog('<13>Jun 14 15:16:01 myapp[77]: started', oct2003));
    expect(m.hostname).toBeUndefined();
    expect(m).toMatchObject({ appname: 'myapp', procid: '77', message: 'started' });
    const plain = ok(parseSyslog('<13>Jun 14 15:16:01 cron: job done', oct2003));
    expect(plain.hostname).toBeUndefined();
    expect(plain).toMatchObject({ appname: 'cron', message: 'job done' });
  });

  it('parses Linux_2k lines: no PRI, CRLF, odd tags', () => {
    const now = new Date(2005, 7, 1).getTime();
    const sshd = ok(parseSyslog('Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4 \r\n', now));
    expect(sshd).toMatchObject({
      protocol: 'rfc3164', hostname: 'combo', appname: 'sshd(pam_unix)', procid: '19939',
      message: 'authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4 ',
    });
    expect(sshd.timestamp).toBe(new Date(2005, 5, 14, 15, 16, 1).getTime());
    expect(sshd.facility).toBeUndefined();
    expect(sshd.severity).toBeUndefined();

    const root = ok(parseSyslog('Jul  7 08:06:15 combo  -- root[2421]: ROOT LOGIN ON tty2\r', now));
    expect(root.hostname).toBe('combo');
    expect(root.appname).toBeUndefined();
    expect(root.message).toBe('-- root[2421]: ROOT LOGIN ON tty2');
    expect(root.timestamp).toBe(new Date(2005, 6, 7, 8, 6, 15).getTime());

    // As rsyslog reads it: the tag is the first word, the colon comes later in the message.
    const syslogd = ok(parseSyslog('Jun 19 04:09:11 combo syslogd 1.4.1: restart.\r', now));
    expect(syslogd.appname).toBe('syslogd');
    expect(syslogd.message).toBe('1.4.1: restart.');

    const kernel = ok(parseSyslog('Jul 27 14:41:57 combo kernel: Linux version 2.6.5-1.358 (bhcompile@bugs.build.redhat.com) (gcc version 3.3.3 20040412 (Red Hat Linux 3.3.3-7)) #1 Sat May 8 09:04:50 EDT 2004', now));
    expect(kernel.appname).toBe('kernel');
    expect(kernel.message.startsWith('Linux version 2.6.5')).toBe(true);
  });

  it('picks the year that keeps the time out of the future (more than a day ahead means last year)', () => {
    const now = new Date(2025, 0, 2, 10, 0, 0).getTime();
    expect(ok(parseSyslog('Dec 31 23:59:59 h app: x', now)).timestamp).toBe(new Date(2024, 11, 31, 23, 59, 59).getTime());
    expect(ok(parseSyslog('Jan  2 09:00:00 h app: x', now)).timestamp).toBe(new Date(2025, 0, 2, 9).getTime());
    expect(ok(parseSyslog('Jan  3 08:00:00 h app: x', now)).timestamp).toBe(new Date(2025, 0, 3, 8).getTime());
    expect(ok(parseSyslog('Jan  4 08:00:00 h app: x', now)).timestamp).toBe(new Date(2024, 0, 4, 8).getTime());
  });

  it('uses the current time by default', () => {
    const ts = ok(parseSyslog('Jan  1 00:00:00 h app: x')).timestamp!;
    expect(ts).toBeLessThanOrEqual(Date.now() + 86_400_000);
    expect(ts).toBeGreaterThan(Date.now() - 366 * 86_400_000);
  });

  it('reads an explicit year, fractions, and the ISO times of rsyslog files', () => {
    expect(ok(parseSyslog('<13>Mar  1 2019 18:48:50 router1 app: x', oct2003)).timestamp).toBe(new Date(2019, 2, 1, 18, 48, 50).getTime());
    expect(ok(parseSyslog('Mar  1 18:48:50.483 router1 app: x', oct2003)).timestamp).toBe(new Date(2003, 2, 1, 18, 48, 50, 483).getTime());
    const iso = ok(parseSyslog('2024-05-01T10:00:00.123456+02:00 myhost systemd[1]: Started Session 4 of User root.'));
    expect(iso).toMatchObject({ timestamp: Date.UTC(2024, 4, 1, 8, 0, 0, 123), hostname: 'myhost', appname: 'systemd', procid: '1', message: 'Started Session 4 of User root.' });
  });

  it('accepts PRI without a timestamp', () => {
    const m = ok(parseSyslog('<13>myapp: hello there'));
    expect(m).toMatchObject({ facility: 1, severity: 5, appname: 'myapp', message: 'hello there' });
    expect(m.timestamp).toBeUndefined();
    expect(m.hostname).toBeUndefined();
  });

  it('refuses lines that are not syslog', () => {
    expect(err(parseSyslog('hello world'))).toMatch(/^not a syslog line: expected <PRI>/);
    expect(err(parseSyslog('{"level":"info"}'))).toMatch(/^not a syslog line/);
    expect(err(parseSyslog('Jun 14 25:16:01 combo app: x'))).toBe("invalid timestamp 'Jun 14 25:16:01'");
    expect(err(parseSyslog('Foo 14 10:16:01 combo app: x'))).toBe("invalid timestamp 'Foo 14 10:16:01'");
    expect(err(parseSyslog(''))).toBe('empty line');
    expect(err(parseSyslog('\r\n'))).toBe('empty line');
    // A PRI and nothing after it, or only blanks: no header and no message (was an empty message, unmarked).
    expect(err(parseSyslog('<13>'))).toBe('nothing after <13>: no header and no message');
    expect(err(parseSyslog('<13>  \t \r\n'))).toBe('nothing after <13>: no header and no message');
    expect(ok(parseSyslog('<13> x')).message).toBe('x');
    expect(err(parseSyslog(Buffer.from('<13>x') as unknown as string))).toBe('expected a string, got object');
  });

  it('parses a 100 KB message', () => {
    const long = 'z '.repeat(BIG / 2);
    const m = timed(() => parseSyslog(`<13>Jun 14 15:16:01 host app[1]: ${long}`, oct2003));
    expect(ok(m.value).message).toBe(long);
    const noSpaces = timed(() => parseSyslog(`Jun 14 15:16:01 ${'['.repeat(BIG)}`, oct2003));
    expect(ok(noSpaces.value).hostname!.length).toBe(BIG);
  });

  it.skipIf(!existsSync(LINUX_SYSLOG))(`parses every line of loghub Linux_2k.log with a host and no CR left${needs(LINUX_SYSLOG)}`, () => {
    const lines = readFileSync(LINUX_SYSLOG, 'utf8').split('\n').filter((l) => l !== '');
    expect(lines.length).toBe(2000);
    const now = new Date(2005, 7, 1).getTime();
    const results = lines.map((l) => parseSyslog(l, now));
    expect(results.filter((r) => !r.ok)).toEqual([]);
    const messages = results.map((r) => ok(r));
    expect(messages.filter((m) => m.hostname !== 'combo' || m.message.includes('\r') || m.timestamp === undefined)).toEqual([]);
    expect(messages.filter((m) => m.appname !== undefined).length).toBeGreaterThan(1980);
  });
});
