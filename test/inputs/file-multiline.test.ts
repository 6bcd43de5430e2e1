/**
 * Stack traces joined by `multiline` in the real file input, on real files: one trace is one event, never
 * two traces in one event nor one trace in two events.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startedFileInputs, tempDir } from '../helpers/file-input.js';

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
});
