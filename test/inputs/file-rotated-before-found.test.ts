/**
 * A name the input has not found yet, whose first file is written and rotated on (renamed away, or copied
 * and truncated) before the input first looks: the rotated copy is read whole, once, beside the new file.
 * With `use_polling` and the periodic checks and scans set to an hour, the input hears of the name only from
 * the poll after all of it happened (a poll a second, the changes made within a millisecond), so the order
 * is fixed: the first file is never seen under the name. Before, its lines were lost (the rotation stress
 * run lost up to 450 lines a seed this way, the first files of each name). A rotated copy written before the
 * input started is not read.
 */
import { appendFileSync, copyFileSync, renameSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { numbered, startedFileInputs, tempDir } from '../helpers/file-input.js';

const start = startedFileInputs();
const linesOf = (text: string) => text.trimEnd().split('\n');

describe('file input: a file rotated on before its name was first found', () => {
  for (const how of ['renamed', 'copied and truncated'] as const) {
    it(`${how}: the rotated copy and the new file are read, once; an older copy is not`, async () => {
      const dir = await tempDir();
      const log = path.join(dir, 'app.log');
      writeFileSync(`${log}.0`, numbered('older', 0, 2)); // rotated an hour before the start
      const t = Date.now() / 1000 - 3600;
      utimesSync(`${log}.0`, t, t);
      const input = start({
        dataDir: path.join(dir, 'data'),
        config: { include: [path.join(dir, '*.log')], start_at: 'beginning', use_polling: true, check_interval: '1h', scan_interval: '1h' },
      });
      await input.until(() => input.logs.includes('watching for file changes'), 'the watcher');
      writeFileSync(log, numbered('first', 0, 3));
      if (how === 'renamed') {
        renameSync(log, `${log}.1`);
        writeFileSync(log, numbered('second', 0, 2));
      } else {
        copyFileSync(log, `${log}.1`);
        truncateSync(log, 0);
        appendFileSync(log, numbered('second', 0, 2));
      }
      await input.until(() => input.events.length >= 2, 'the new file\'s lines');
      await input.until(() => input.events.length >= 5, 'the rotated copy\'s lines', 3000).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 300)); // a line read twice would show up by now
      expect([...input.bodies()].sort()).toEqual([...linesOf(numbered('first', 0, 3)), ...linesOf(numbered('second', 0, 2))]);
    });
  }
});
