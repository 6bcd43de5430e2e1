import { appendFileSync, writeFileSync } from 'node:fs';
import { appendFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { compileGlob, PathMatcher } from '../../src/inputs/file/glob.js';
import { goRule } from '../../src/inputs/file/multiline.js';
import { startedFileInputs, tempDir, type RunningFileInput } from '../helpers/file-input.js';

const start = startedFileInputs();

async function readWith(content: string | Buffer, config: Record<string, unknown>, expected: number): Promise<RunningFileInput> {
  const dir = await tempDir();
  const log = path.join(dir, 'app.log');
  await writeFile(log, content);
  const input = start({ dataDir: path.join(dir, 'data'), config: { include: [log], start_at: 'beginning', ...config } });
  await input.until(() => input.events.length >= expected, `${expected} events`);
  return input;
}

const JAVA = `2024-05-01 12:00:00 INFO started
2024-05-01 12:00:01 ERROR request failed
java.lang.IllegalStateException: boom
\tat com.example.Service.handle(Service.java:42)
\tat com.example.Server.run(Server.java:10)
Caused by: java.io.IOException: disk full
\tat com.example.Disk.write(Disk.java:7)
\t... 2 more
2024-05-01 12:00:02 INFO next
`;

const PYTHON = `ERROR:root:request failed
Traceback (most recent call last):
  File "app.py", line 10, in <module>
    main()
  File "app.py", line 6, in main
    raise ValueError("bad value")
ValueError: bad value
INFO:root:next
`;

// Written by CPython 3 (logging.exception after `raise ... from e`, then one raised while handling another):
// a chained traceback has a blank line before *and after* the line that joins its parts.
const PYTHON_CHAINED = `ERROR:root:request failed
Traceback (most recent call last):
  File "chain.py", line 7, in <module>
    f()
  File "chain.py", line 4, in f
    raise KeyError('sku')
KeyError: 'sku'

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "chain.py", line 9, in <module>
    raise ValueError('bad cart') from e
ValueError: bad cart
ERROR:root:second
Traceback (most recent call last):
  File "chain.py", line 14, in <module>
    f()
  File "chain.py", line 4, in f
    raise KeyError('sku')
KeyError: 'sku'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "chain.py", line 16, in <module>
    {}['x']
    ~~^^^^^
KeyError: 'x'
WARNING:root:next
`;

const GO = `2024/05/01 12:00:00 serving
panic: runtime error: index out of range [5] with length 3

goroutine 1 [running]:
main.handler(...)
\t/app/main.go:12 +0x1d
main.main()
\t/app/main.go:20 +0x25
exit status 2
2024/05/01 12:00:05 restarted
`;

describe('file input: lines', () => {
  it('multiline preset java joins the exception and its frames with the message that logged it', async () => {
    const input = await readWith(JAVA, { multiline: { preset: 'java', timeout: '100ms' } }, 3);
    const bodies = input.bodies();
    expect(bodies).toHaveLength(3);
    expect(bodies[1]!.split('\n')).toHaveLength(7);
    expect(bodies[1]).toMatch(/^2024-05-01 12:00:01 ERROR request failed\njava.lang.IllegalStateException: boom\n\tat /);
    expect(bodies[2]).toBe('2024-05-01 12:00:02 INFO next');
    expect(input.events[2]!.source.offset).toBe(JAVA.indexOf('2024-05-01 12:00:02'));
  });

  it('multiline preset python keeps a traceback up to its exception line', async () => {
    const input = await readWith(PYTHON, { multiline: { preset: 'python', timeout: '100ms' } }, 2);
    expect(input.bodies()).toEqual([PYTHON.split('\nINFO')[0], 'INFO:root:next']);
  });

  it('multiline preset python keeps a chained traceback (both blank lines around the chain message) in one event', async () => {
    const input = await readWith(PYTHON_CHAINED, { multiline: { preset: 'python', timeout: '100ms' } }, 3);
    const bodies = input.bodies();
    expect(bodies).toEqual([
      PYTHON_CHAINED.slice(0, PYTHON_CHAINED.indexOf('\nERROR:root:second')),
      PYTHON_CHAINED.slice(PYTHON_CHAINED.indexOf('ERROR:root:second'), PYTHON_CHAINED.indexOf('\nWARNING')),
      'WARNING:root:next',
    ]);
  });

  it('multiline preset go keeps a panic and its goroutine dump together', async () => {
    const input = await readWith(GO, { multiline: { preset: 'go', timeout: '100ms' } }, 3);
    const bodies = input.bodies();
    expect(bodies).toHaveLength(3);
    expect(bodies[1]).toMatch(/^panic: runtime error.*\n\ngoroutine 1 \[running\]:\n/);
    expect(bodies[1]).toMatch(/exit status 2$/);
    expect(bodies[2]).toBe('2024/05/01 12:00:05 restarted');
  });

  it('multiline preset go reads a function line in one pass: a hostile 1 MB line after a panic is judged at once', () => {
    const first = 'panic: bad request';
    // Before, each `(` of the run made the pattern try to the end of the line: minutes for this one.
    expect(goRule.continues(`x${'(t'.repeat(500_000)}`, first, first)).toBe(false);
    expect(goRule.continues(`x${'(t'.repeat(500_000)})`, first, first)).toBe(true);
    expect(goRule.continues('main.(*Server).handle(0xc000010000, {0x0, 0x0})', first, first)).toBe(true);
    expect(goRule.continues('main.main()', first, first)).toBe(true);
    expect(goRule.continues('not a (function) line', first, first)).toBe(false);
  });

  it('start_pattern: a matching line starts an event; the last event goes out after the timeout', async () => {
    const text = '[1] first\n  more\n  more\n[2] second\n  tail\n';
    const input = await readWith(text, { multiline: { start_pattern: '^\\[\\d+\\]', timeout: '100ms' } }, 2);
    expect(input.bodies()).toEqual(['[1] first\n  more\n  more', '[2] second\n  tail']);
  });

  it('continuation_pattern, with max_lines: the excess is dropped and the event marked', async () => {
    const text = 'head\n+a\n+b\n+c\n+d\nnext\n';
    const input = await readWith(text, { multiline: { continuation_pattern: '^\\+', max_lines: 3, timeout: '100ms' } }, 2);
    expect(input.bodies()).toEqual(['head\n+a\n+b', 'next']);
    expect(input.events[0]!.attributes['log.truncated']).toBe(true);
  });

  it('rejects a multiline block with no rule or two rules', async () => {
    const { fileInputConfig } = await import('../../src/inputs/file/index.js');
    expect(fileInputConfig.safeParse({ include: ['x'], multiline: { timeout: '1s' } }).success).toBe(false);
    expect(fileInputConfig.safeParse({ include: ['x'], multiline: { preset: 'go', start_pattern: 'x' } }).success).toBe(false);
    expect(fileInputConfig.safeParse({ include: ['x'], multiline: { start_pattern: '(' } }).success).toBe(false);
  });

  it('a line longer than max_line_bytes is cut, marked and counted; its neighbours are intact', async () => {
    const long = 'x'.repeat(100_000);
    const input = await readWith(`before\n${long}\nafter\n`, { max_line_bytes: '1KiB', max_read_bytes: '16KiB' }, 3);
    expect(input.bodies().map((b) => b.length)).toEqual([6, 1024, 5]);
    expect(input.events[1]!.attributes['log.truncated']).toBe(true);
    expect(input.bodies()[2]).toBe('after');
    expect(input.metrics.get('malformed_events_total')).toBe(1);
    // Said in the log with its file and where the line starts, not only counted.
    const said = input.logRecords.filter((r) => r.problem === 'line_truncated');
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({ file: input.events[1]!.source.file, offset: 7, max_line_bytes: 1024 });
    expect(said[0]!.msg).toMatch(/cut .*log\.truncated/);
  });

  it('cut and invalid lines in a flood are logged rate-limited: the first of each kind at once, the rest summed', async () => {
    const lines: Buffer[] = [];
    for (let i = 0; i < 300; i++) lines.push(Buffer.from(`${'x'.repeat(2000)}\n`), Buffer.from([0x61, 0xff, 0x0a]));
    const input = await readWith(Buffer.concat(lines), { max_line_bytes: '1KiB' }, 600);
    expect(input.metrics.get('malformed_events_total')).toBe(600);
    // 600 problems, two log lines now (one per kind); their sums follow within 10 s, or at the stop.
    expect(input.logRecords.filter((r) => r.problem === 'line_truncated')).toHaveLength(1);
    expect(input.logRecords.filter((r) => r.problem === 'invalid_utf8')).toHaveLength(1);
    expect(input.logRecords.find((r) => r.problem === 'invalid_utf8')).toMatchObject({ offset: 2001 });
    await input.stop();
    const sums = input.logRecords.filter((r) => r.problem !== undefined && r.occurrences !== undefined);
    expect(sums.map((r) => [r.problem, r.occurrences]).sort()).toEqual([['invalid_utf8', 299], ['line_truncated', 299]]);
  });

  it('an over-long line still being written when the input stops is read once, whole, after the restart', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    const data = path.join(dir, 'data');
    const config = { include: [log], start_at: 'beginning', max_line_bytes: '1KiB', partial_line_timeout: '100ms' };
    await writeFile(log, `before\n${'x'.repeat(5000)}`);
    const first = start({ dataDir: data, config });
    await first.until(() => first.events.length >= 1, 'the first line');
    await new Promise((r) => setTimeout(r, 400)); // past the partial-line timeout: the long line still waits
    expect(first.bodies()).toEqual(['before']);
    await first.stop();
    // The rest of the long line arrives while the input is stopped.
    await appendFile(log, `${'y'.repeat(5000)}\nafter\n`);
    const second = start({ dataDir: data, config });
    await second.until(() => second.events.length >= 2, 'the long line and the next');
    await new Promise((r) => setTimeout(r, 300));
    // The long line once, cut and marked; no piece of its tail as a line of its own.
    expect(second.bodies().map((b) => b.slice(0, 3) + ':' + b.length)).toEqual(['xxx:1024', 'aft:5']);
    expect(second.events[0]!.attributes['log.truncated']).toBe(true);
  });

  it('invalid UTF-8 is replaced and marked', async () => {
    const input = await readWith(Buffer.from([0x61, 0xff, 0x62, 0x0a, 0x6f, 0x6b, 0x0a]), {}, 2);
    expect(input.bodies()).toEqual(['a\uFFFDb', 'ok']);
    expect(input.events[0]!.attributes['log.invalid_utf8']).toBe(true);
  });

  it('a last line without newline waits for the rest of it', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    await writeFile(log, 'complete\nparti');
    const input = start({ dataDir: path.join(dir, 'data'), config: { include: [log], start_at: 'beginning' } });
    await input.until(() => input.events.length === 1, 'the complete line');
    await new Promise((r) => setTimeout(r, 300)); // several checks later, still waiting
    expect(input.bodies()).toEqual(['complete']);
    await appendFile(log, 'al\n');
    await input.until(() => input.events.length === 2, 'the completed line');
    expect(input.bodies()).toEqual(['complete', 'partial']);
  });

  it('partial_line_timeout: a last line without newline is passed on after the timeout', async () => {
    const input = await readWith('complete\nno newline', { partial_line_timeout: '200ms' }, 2);
    expect(input.bodies()).toEqual(['complete', 'no newline']);
  });

  it('reads 500 files at once, each line exactly once, from globs with ** and exclude', async () => {
    const dir = await tempDir();
    const files: string[] = [];
    for (let d = 0; d < 10; d++) {
      await mkdir(path.join(dir, `svc${d}`, 'logs'), { recursive: true });
      for (let f = 0; f < 50; f++) files.push(path.join(dir, `svc${d}`, 'logs', `f${f}.log`));
    }
    // Written at once (synchronously): one await each, on a loaded machine, took most of the test's 30 s.
    for (const [i, f] of files.entries()) writeFileSync(f, `file ${i} line 0\nfile ${i} line 1\n`);
    await writeFile(path.join(dir, 'svc0', 'logs', 'skip.log.gz'), 'not me\n');
    await writeFile(path.join(dir, 'svc0', 'logs', 'excluded.log'), 'not me either\n');
    const input = start({
      dataDir: path.join(dir, 'data'),
      config: { include: [path.join(dir, '**/*.log')], exclude: ['**/excluded.log'], start_at: 'beginning' },
    });
    await input.until(() => input.events.length >= 1000, '1000 lines', 20_000);
    for (const [i, f] of files.entries()) appendFileSync(f, `file ${i} line 2\n`);
    await input.until(() => input.events.length >= 1500, '1500 lines', 20_000);
    await new Promise((r) => setTimeout(r, 300)); // a line read twice would show up by now
    const bodies = input.bodies();
    expect(bodies).toHaveLength(1500);
    expect(new Set(bodies).size).toBe(1500);
    expect(bodies.filter((b) => b.startsWith('not me'))).toEqual([]);
    expect(input.metrics.get('files_open')).toBe(500);
  });
});

describe('globs', () => {
  it('compiles *, ?, **, classes and alternatives, with the folder to watch and its depth', () => {
    const g = compileGlob('/var/log/**/app-?.{log,txt}');
    expect(g.base).toBe('/var/log');
    expect(g.depth).toBe(Infinity);
    for (const p of ['/var/log/app-1.log', '/var/log/a/b/app-x.txt']) expect(g.regex.test(p), p).toBe(true);
    for (const p of ['/var/log/app-10.log', '/var/log/app-1.log.1', '/var/lib/app-1.log']) expect(g.regex.test(p), p).toBe(false);
    const s = compileGlob('/srv/*/logs/[!.]*.log');
    expect([s.base, s.depth]).toEqual(['/srv', 2]);
    expect(s.regex.test('/srv/web/logs/access.log')).toBe(true);
    expect(s.regex.test('/srv/web/logs/.hidden.log')).toBe(false);
    expect(compileGlob('/var/log/syslog')).toMatchObject({ base: '/var/log', depth: 0 });
  });

  it('matches include minus exclude, and watches each root once', () => {
    const m = new PathMatcher(['/a/**/*.log', '/a/b/*.txt', '/c/x.log'], ['**/debug.log']);
    expect(m.matches('/a/b/c.log')).toBe(true);
    expect(m.matches('/a/b/debug.log')).toBe(false);
    expect(m.roots()).toEqual([{ dir: '/a', depth: Infinity }, { dir: '/c', depth: 0 }]);
  });
});

describe('file input timeouts and the wall clock', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  /** Waits on the monotonic clock: Date.now() is the one these tests move. */
  async function within(ms: number, check: () => boolean): Promise<boolean> {
    const started = performance.now();
    while (!check()) {
      if (performance.now() - started > ms) return false;
      await new Promise((r) => setTimeout(r, 10));
    }
    return true;
  }

  it('passes a multiline event on after its timeout though the wall clock stepped back an hour meanwhile (NTP)', async () => {
    const realNow = Date.now.bind(Date);
    let step = 0;
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + step);
    const input = await readWith('first event\n  its continuation\nsecond event\n', { multiline: { start_pattern: '^\\S', timeout: '200ms' } }, 1);
    // The first event went out when the second began; the second waits for its timeout. The clock steps back.
    step = -3_600_000;
    expect(await within(3000, () => input.events.length === 2)).toBe(true);
    expect(input.bodies()).toEqual(['first event\n  its continuation', 'second event']);
  });

  it('does not cut a multiline event at once when the wall clock steps forward an hour', async () => {
    const realNow = Date.now.bind(Date);
    let step = 0;
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + step);
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    await writeFile(log, 'first event\n');
    const input = start({ dataDir: path.join(dir, 'data'), config: { include: [log], start_at: 'beginning', multiline: { start_pattern: '^\\S', timeout: '2s' } } });
    await new Promise((r) => setTimeout(r, 300)); // read, waiting for its continuation
    step = 3_600_000;
    await new Promise((r) => setTimeout(r, 300));
    await appendFile(log, '  its continuation\nsecond event\n');
    expect(await within(5000, () => input.events.length >= 1)).toBe(true);
    expect(input.bodies()[0]).toBe('first event\n  its continuation');
  });
});
