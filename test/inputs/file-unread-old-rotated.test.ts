/**
 * A daemon started (no state) on an empty app.log, with an old rotated app.log.1 beside it written after
 * app.log was created (logrotate `create`: the writer kept writing to the renamed file until it reopened):
 * the first write to app.log must not read app.log.1 whole. It is not content of app.log seen changing.
 */
import { utimesSync } from 'node:fs';
import { appendFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { numbered, startedFileInputs, tempDir } from '../helpers/file-input.js';

const start = startedFileInputs();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('file input: old rotated files beside an empty file at start', () => {
  for (const startAt of ['end', 'beginning'] as const) {
    it(`start_at ${startAt}: the first line written to the empty app.log is all that is read`, async () => {
      const dir = await tempDir();
      const log = path.join(dir, 'app.log');
      await writeFile(log, '');
      // created by the rotation a minute ago; the old file, renamed, was written to until the writer reopened
      const t = Date.now() / 1000 - 60;
      utimesSync(log, t, t);
      await writeFile(path.join(dir, 'app.log.1'), numbered('old', 0, 3));
      utimesSync(path.join(dir, 'app.log.1'), t + 1, t + 1);
      const input = start({ dataDir: path.join(dir, 'data'), config: { include: [log], start_at: startAt } });
      await input.until(() => input.logs.includes('watching for file changes'), 'the watcher');
      await sleep(50);
      await appendFile(log, numbered('new', 0, 1));
      await input.until(() => input.events.length >= 1, 'the new line');
      await sleep(300);
      expect(input.bodies()).toEqual(['new-000000']);
    });
  }
});
