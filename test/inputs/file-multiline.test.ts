/**
 * Stack traces joined by `multiline` in the real file input, on real files: one trace is one event, never
 * two traces in one event nor one trace in two events.
 */
import { appendFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCheckpoints, startedFileInputs, tempDir } from '../helpers/file-input.js';

const start = startedFileInputs();

// Two uncaught exceptions written to stderr one after the other (a worker crashing twice), then a logged one.
const PYTHON_BACK_TO_BACK = `Traceback (most recent call last):
  File "worker.py", line 3, in <module>
    run()
ValueError: first
Traceback (most recent call last):
  File "worker.py", line 3, in <module>
    run()
KeyError: 'second'
ERROR:root:request failed
Traceback (most recent call last):
  File "app.py", line 6, in main
    raise OSError("disk")
OSError: disk
Traceback (most recent call last):
  File "app.py", line 9, in main
    g()
TypeError: third
INFO:root:next
`;

describe('file input: multiline events', () => {
  it('python: a traceback right after the exception line that ended another starts an event of its own', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    await writeFile(log, PYTHON_BACK_TO_BACK);
    const input = start({ dataDir: path.join(dir, 'data'), config: { include: [log], start_at: 'beginning', multiline: { preset: 'python', timeout: '100ms' } } });
    await input.until(() => input.bodies().includes('INFO:root:next'), 'the last line');
    const traces = PYTHON_BACK_TO_BACK.trimEnd().split(/\n(?=Traceback|ERROR|INFO)/);
    // The logged message and its traceback stay one event (logging.exception writes both).
    traces.splice(2, 2, `${traces[2]}\n${traces[3]}`);
    expect(input.bodies()).toEqual(traces);
    expect(input.bodies()).toHaveLength(5);
  });

  it('python: a traceback after one whose logged message reads as its exception line is an event of its own', async () => {
    // The message that logged the first traceback is the same text as its exception line: the two
    // tracebacks were one event (the first line was recognised by its text, not by being the first).
    const text = 'ValueError: x\nTraceback (most recent call last):\n  File "a.py", line 1, in <module>\n    f()\nValueError: x\n' +
      'Traceback (most recent call last):\n  File "a.py", line 2, in <module>\n    g()\nKeyError: y\nINFO:root:next\n';
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    await writeFile(log, text);
    const input = start({ dataDir: path.join(dir, 'data'), config: { include: [log], start_at: 'beginning', multiline: { preset: 'python', timeout: '100ms' } } });
    await input.until(() => input.bodies().includes('INFO:root:next'), 'the last line');
    expect(input.bodies()).toEqual(text.trimEnd().split(/\n(?=Traceback \(most recent call last\):\n {2}File "a.py", line 2|INFO)/));
    expect(input.bodies()).toHaveLength(3);
  });

  it('a trace whose last line has no newline yet is not closed by the timeout: the rest of that line, and of the trace, joins it', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    const head = '2024-05-01 12:00:01 ERROR request failed\njava.lang.IllegalStateException: boom\n\tat a.B.c(B.java:1)\n\tat a.B.d(B.j';
    await writeFile(log, head);
    const input = start({ dataDir: path.join(dir, 'data'), config: { include: [log], start_at: 'beginning', multiline: { preset: 'java', timeout: '100ms' } } });
    // Five timeouts pass with the file ending in the middle of a frame line (a block-buffered writer).
    await new Promise((r) => setTimeout(r, 500));
    expect(input.bodies()).toEqual([]);
    await appendFile(log, 'ava:2)\n\tat a.B.e(B.java:3)\n2024-05-01 12:00:02 INFO next\n');
    await input.until(() => input.bodies().includes('2024-05-01 12:00:02 INFO next'), 'the next line');
    expect(input.bodies()).toEqual([`${head}ava:2)\n\tat a.B.e(B.java:3)`, '2024-05-01 12:00:02 INFO next']);
    expect(input.events.map((e) => e.source.offset)).toEqual([0, head.length + 'ava:2)\n\tat a.B.e(B.java:3)\n'.length]);
  });

  it('the same when that line is already longer than max_line_bytes: its head is kept in the event, not sent alone later', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    await writeFile(log, `[1] first\n  more\n  ${'x'.repeat(200)}`);
    const input = start({ dataDir: path.join(dir, 'data'), config: { include: [log], start_at: 'beginning', max_line_bytes: 120, multiline: { start_pattern: '^\\[\\d+\\]', timeout: '100ms' } } });
    await new Promise((r) => setTimeout(r, 500));
    expect(input.bodies()).toEqual([]);
    await appendFile(log, 'yyy\n  end\n[2] next\n');
    await input.until(() => input.bodies().includes('[2] next'), 'the next event');
    const bodies = input.bodies();
    expect(bodies).toHaveLength(2);
    expect(bodies[0]!.startsWith('[1] first\n  more\n')).toBe(true);
    expect(bodies[1]).toBe('[2] next');
    expect(input.events[0]!.attributes['log.truncated']).toBe(true);
  });

  it('with partial_line_timeout, a trace ending in a line without newline goes out whole, that line included, when the line times out', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    const text = '[1] first\n  more\n  last without newline';
    await writeFile(log, text);
    const input = start({ dataDir: path.join(dir, 'data'), config: { include: [log], start_at: 'beginning', partial_line_timeout: '400ms', multiline: { start_pattern: '^\\[\\d+\\]', timeout: '100ms' } } });
    await input.until(() => input.events.length >= 1, 'the event');
    await new Promise((r) => setTimeout(r, 200));
    expect(input.bodies()).toEqual([text]);
    await input.stop();
    const [checkpoint] = await readCheckpoints(path.join(dir, 'data'));
    expect(checkpoint!.offset).toBe(Buffer.byteLength(text));
  });
});

describe('file input: multiline events past max_line_bytes', () => {
  it('are cut at max_line_bytes: the line that does not fit is cut, and the lines after it are dropped, not joined after a hole', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    const long = `  ${'a'.repeat(30)}`;
    await writeFile(log, `[1] first\n${long}\n  b\n  c\n[2] next\n`);
    const input = start({ dataDir: path.join(dir, 'data'), config: { include: [log], start_at: 'beginning', max_line_bytes: 40, multiline: { start_pattern: '^\\[\\d+\\]', timeout: '100ms' } } });
    await input.until(() => input.bodies().includes('[2] next'), 'the next event');
    expect(input.bodies()).toEqual([`[1] first\n${long.slice(0, 30)}`, '[2] next']);
    expect(Buffer.byteLength(input.bodies()[0]!)).toBe(40);
    expect(input.events[0]!.attributes['log.truncated']).toBe(true);
    expect(input.events[1]!.attributes['log.truncated']).toBeUndefined();
  });
});
