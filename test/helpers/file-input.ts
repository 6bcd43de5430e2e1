/**
 * Runs the `file` input in-process with a fake pipeline around it: events are collected, and each batch is
 * acknowledged at once (or held, to test checkpoints). Restarting = stopping and starting another instance
 * with the same data folder, exactly as the daemon does across restarts.
 */
import { afterEach, expect } from 'vitest';
import { pino } from 'pino';
import { appendFileSync, statSync, writeFileSync } from 'node:fs';
import { readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { AckStatus } from '../../src/engine/acknowledgement.js';
import type { InputContext } from '../../src/engine/component.js';
import type { LogEvent } from '../../src/engine/event.js';
import { ComponentMetrics } from '../../src/engine/metrics.js';
import { fileInputConfig, FileInput } from '../../src/inputs/file/index.js';
import { tempDir as newTempDir } from './temp.js';

/** A temp folder for a file input test, removed when the test ends. */
export function tempDir(prefix = 'dl-file-'): Promise<string> {
  return newTempDir(prefix);
}

export interface RunningFileInput {
  events: LogEvent[];
  metrics: ComponentMetrics;
  /** Batches held back when `hold` is set, with their acknowledgement callbacks. */
  held: Array<{ events: LogEvent[]; ack: (status: AckStatus) => void }>;
  /** The bodies received so far. */
  bodies(): string[];
  /** The messages the input logged so far (debug level and up). */
  logs: string[];
  /** The same log lines, whole (fields and all). */
  logRecords: Array<Record<string, unknown>>;
  /** What the input told /health, in order: `failing: <reason>` or `ok`. */
  health: string[];
  /**
   * Holds every `emit` until the returned function is called: the input stops reading, as behind a full
   * pipeline. `waiting` counts the emits held.
   */
  block(): () => void;
  readonly waiting: number;
  /** Waits until `check()` holds (polling every 10 ms), or fails after `timeoutMs`. */
  until(check: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
  done: Promise<void>;
}

export interface StartOptions {
  dataDir: string;
  config: Record<string, unknown>;
  /** Hold batches instead of acknowledging them (see `held`). */
  hold?: boolean;
  /** Status to acknowledge with (default delivered). */
  status?: AckStatus;
}

export function startFileInput(options: StartOptions): RunningFileInput {
  const config = fileInputConfig.parse({ check_interval: '100ms', rotate_wait: '200ms', ...options.config });
  const controller = new AbortController();
  const metrics = new ComponentMetrics('files', 'input', 'file');
  const events: LogEvent[] = [];
  const held: RunningFileInput['held'] = [];
  const logs: string[] = [];
  const logRecords: Array<Record<string, unknown>> = [];
  const health: string[] = [];
  const logger = pino({ level: 'debug' }, {
    write: (line: string) => {
      const record = JSON.parse(line) as Record<string, unknown>;
      logRecords.push(record);
      logs.push(record.msg as string);
    },
  });
  let gate: Promise<void> | undefined;
  let waiting = 0;
  const ctx: InputContext = {
    id: 'files',
    logger,
    dataDir: options.dataDir,
    metrics,
    signal: controller.signal,
    health: { failing: (reason) => health.push(`failing: ${reason}`), ok: () => health.push('ok') },
    async emit(batch, onAck) {
      while (gate) {
        waiting += 1;
        await gate;
        waiting -= 1;
      }
      events.push(...batch);
      if (options.hold) held.push({ events: batch, ack: onAck ?? (() => undefined) });
      else onAck?.(options.status ?? 'delivered');
    },
  };
  const done = new FileInput(config, ctx).run();
  return {
    events,
    metrics,
    held,
    bodies: () => events.map((e) => e.body as string),
    logs,
    logRecords,
    health,
    block() {
      let release!: () => void;
      gate = new Promise<void>((resolve) => (release = resolve));
      return () => {
        gate = undefined;
        release();
      };
    },
    get waiting() {
      return waiting;
    },
    async until(check, what, timeoutMs = 10_000) {
      const started = Date.now();
      while (!check()) {
        if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}; got ${events.length} events`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async stop() {
      controller.abort();
      await done;
    },
    done,
  };
}

export async function readCheckpoints(dataDir: string): Promise<Array<{ path: string; offset: number; ino: number; fp_len: number }>> {
  const data = JSON.parse(await readFile(path.join(dataDir, 'checkpoints.json'), 'utf8')) as { files: Array<{ path: string; offset: number; ino: number; fp_len: number }> };
  return data.files;
}

/** `count` numbered lines, `prefix-000000` ... */
export function numbered(prefix: string, from: number, count: number): string {
  let out = '';
  for (let i = from; i < from + count; i++) out += `${prefix}-${String(i).padStart(6, '0')}\n`;
  return out;
}

/**
 * An input reading `app.log` of 1,000 numbered `x` lines (9,000 bytes, more than one read of 4 KiB) whose first
 * read's lines are held (a full pipeline: it reads no further); `meanwhile(log)` runs then, and one line `y`
 * is appended, before the input is let go.
 */
export async function whileFirstReadHeld(start: (options: StartOptions) => RunningFileInput, dir: string, meanwhile: (log: string) => void): Promise<{ log: string; input: RunningFileInput }> {
  const log = path.join(dir, 'app.log');
  writeFileSync(log, numbered('x', 0, 1000));
  const input = start({ dataDir: path.join(dir, 'data'), config: { include: [log], start_at: 'beginning', max_read_bytes: '4KiB' } });
  const release = input.block();
  try {
    await input.until(() => input.waiting > 0, 'the first read held');
    meanwhile(log);
    appendFileSync(log, numbered('y', 0, 1));
  } finally {
    release();
  }
  return { log, input };
}

/** Every line of `expected` was read once: none missing, none twice, none other. */
export function expectEachOnce(bodies: string[], expected: string): void {
  const lines = expected.trimEnd().split('\n');
  expect(new Set(bodies).size, 'distinct lines').toBe(bodies.length);
  expect([...bodies].sort()).toEqual([...lines].sort());
}

/** Starts file inputs for a test file; every one still running is stopped after each test. */
export function startedFileInputs(): (options: StartOptions) => RunningFileInput {
  const running: RunningFileInput[] = [];
  afterEach(async () => {
    for (const r of running.splice(0)) await r.stop().catch(() => undefined);
  });
  return (options) => {
    const r = startFileInput(options);
    running.push(r);
    return r;
  };
}

/**
 * Descriptors this process holds open on files under `dir` (Linux), leaving out those under `except`: give
 * it the input's data_dir when that is inside `dir`, because a checkpoint save in flight (at start, then at
 * every checkpoint_interval) holds `checkpoints.json.tmp` open for a moment, and counted as one of the
 * input's files it made a count of the files read fail now and then (1 run in 6 under load).
 */
export async function openFilesUnder(dir: string, except?: string): Promise<string[]> {
  const out: string[] = [];
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target.startsWith(dir) && !(except !== undefined && target.startsWith(except + path.sep))) out.push(target);
  }
  return out;
}

/**
 * Gives `file` other content under the same inode, as the input finds it when a deleted file's inode went to
 * a new file under the same name: written in place (truncated, then written), so the inode is the same every
 * time. Before, the file was deleted and created again, counting on the file system to hand the freed inode
 * to it (ext4 does, 20 times in 20 alone); under the load of the whole suite another process took it first
 * and the test failed (once in a fresh-clone CI run). Returns the inode.
 */
export function replaceReusingInode(file: string, content: string): number {
  const { ino } = statSync(file);
  writeFileSync(file, content);
  const now = statSync(file).ino;
  if (now !== ino) throw new Error(`${file} has inode ${now} after it was written in place, not ${ino}`);
  return ino;
}
