/**
 * A tailer held up in the middle of a look (its host's search for copies, `changedUnread`, runs in the
 * input's queue of decisions, which a burst of rotations keeps busy) while its file is renamed away and
 * written to: it must look at the file again before it lets it go at rotate_wait. Driven directly, with a
 * host whose search the test holds. Before, the tailer went on with the size it had found before the wait
 * (nothing to read), found rotate_wait passed since the rename, and let the file go: the lines written
 * meanwhile were lost (the rotation stress run lost 10 to 37 lines a seed so: a file found empty, written,
 * copied and truncated, written again and renamed while the input's queue was busy).
 */
import { appendFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { LogEvent } from '../../src/engine/event.js';
import { ComponentMetrics } from '../../src/engine/metrics.js';
import { EMPTY_FINGERPRINT } from '../../src/inputs/file/fingerprint.js';
import { AckPolicy, AckTracker, Tailer, type TailerHost } from '../../src/inputs/file/tailer.js';
import { ProblemLog } from '../../src/inputs/net/problems.js';
import { numbered, tempDir } from '../helpers/file-input.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('file tailer: held up while its file is renamed and written', () => {
  it('reads what was written before it lets the renamed file go', async () => {
    const dir = await tempDir();
    const log = path.join(dir, 'app.log');
    writeFileSync(log, '');
    const controller = new AbortController();
    const events: LogEvent[] = [];
    const logger = pino({ level: 'silent' });
    let releaseSearch!: () => void;
    let searched = false;
    let closed = false;
    const host: TailerHost = {
      ctx: {
        id: 'files', logger, dataDir: dir, metrics: new ComponentMetrics('files', 'input', 'file'), signal: controller.signal,
        emit: async (batch, onAck) => {
          events.push(...batch);
          onAck?.('delivered');
        },
      },
      options: { maxLineBytes: 1 << 20, maxReadBytes: 1 << 20, fingerprintBytes: 256, partialLineTimeoutMs: 0, rotateWaitMs: 50, closeInactiveMs: 0 },
      problems: new ProblemLog(logger),
      rotated: () => undefined,
      truncated: async () => undefined,
      changedUnread: () => {
        searched = true;
        return new Promise<void>((resolve) => (releaseSearch = resolve));
      },
      mayRest: () => false,
      closed: () => (closed = true),
    };
    const handle = await open(log, 'r');
    const st = await handle.stat();
    const entry = { path: log, dev: st.dev, ino: st.ino, fingerprint: EMPTY_FINGERPRINT, offset: 0, seen: Date.now() };
    const tailer = new Tailer(host, handle, log, st, 0, new AckTracker(entry, new AckPolicy(() => undefined, () => undefined)));
    tailer.start();
    try {
      await sleep(50); // past the granularity of file times: the truncation gets a modification time of its own
      appendFileSync(log, numbered('a', 0, 2));
      truncateSync(log, 0); // copied and truncated before anything was read: the tailer asks its host for the copy
      tailer.wake();
      for (let i = 0; i < 200 && !searched; i++) await sleep(10);
      expect(searched, 'the tailer asked for the copy').toBe(true);
      appendFileSync(log, numbered('b', 0, 3));
      renameSync(log, `${log}.2`);
      tailer.lookAtName(); // the rename is seen while the tailer waits
      for (let i = 0; i < 200 && tailer.state === 'live'; i++) await sleep(10);
      expect(tailer.state).toBe('rotated');
      await sleep(150); // rotate_wait (50 ms) passes while the search is held
      releaseSearch();
      for (let i = 0; i < 300 && !closed && events.length < 3; i++) await sleep(10);
      expect(events.map((e) => e.body)).toEqual(numbered('b', 0, 3).trimEnd().split('\n'));
    } finally {
      controller.abort();
      tailer.wake();
      await tailer.done;
    }
  });
});
