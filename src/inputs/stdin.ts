/** `stdin`: one event per line of standard input; the daemon's inputs end at EOF. */
import { createReadStream, fstatSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { defineInput, type InputContext } from '../engine/component.js';
import type { LogEvent } from '../engine/event.js';
import { byteSize } from '../config/schema.js';
import { LineSplitter, type LineFlags } from './line-splitter.js';
import { ProblemLog } from './net/problems.js';

export const stdinConfig = z.object({
  max_line_bytes: byteSize().prefault('1MiB').describe('Longer lines are cut to this size and marked `log.truncated`; the next line is unaffected. Cut lines, and lines that are not valid UTF-8 (marked `log.invalid_utf8`), are counted in `malformed_events_total` and logged with their line number: the first of each at once, then a sum at most every 10 s.'),
});

/**
 * Bytes read at once from standard input when it is a regular file (`driftlock run < access.log`). Node's
 * `process.stdin` reads a file 64 KiB at a time, and each read is a round trip through libuv's thread pool:
 * on one core (the bench pins the daemon with taskset) about 0.27 ms a read, 11% of stdin -> parse(json) ->
 * anomaly_detect -> file (300,000 nginx lines, 87 MB); in 256 KiB reads 2.8%, and CPU time 2.49 -> 2.30 s
 * (medians of 6). 1 MiB was slower (2.87 s elapsed against 2.48): batches that large outlive V8's young
 * generation. A pipe or a terminal is read as it comes, whatever this says.
 */
const FILE_READ_BYTES = 256 * 1024;

/** Standard input: `process.stdin`, or a file stream on descriptor 0 that reads `FILE_READ_BYTES` at once when it is a regular file. */
export function standardInput(): Readable {
  let file = false;
  try {
    file = fstatSync(0).isFile();
  } catch {
    // Not seen in practice: Node opens /dev/null on a descriptor 0 that the parent closed (`<&-`), and that
    // is no regular file. Should fstat fail all the same, process.stdin says so in its own way.
  }
  return file ? createReadStream('', { fd: 0, highWaterMark: FILE_READ_BYTES, autoClose: false }) : process.stdin;
}

/** Marks an event with what the line splitter noticed about its line. */
export function markLine(event: LogEvent, flags: LineFlags): void {
  if (flags.truncated) event.attributes['log.truncated'] = true;
  if (flags.invalidUtf8) event.attributes['log.invalid_utf8'] = true;
}

/**
 * Marks an event as `markLine` does, and says it in the log through `problems` (the first of each kind at once,
 * then sums): `cut` says which limit a cut line went over, `where` where the line is (its number, or its file
 * and offset). Before, such lines were only counted in malformed_events_total, with no clue which or where.
 */
export function markAndSayLine(event: LogEvent, flags: LineFlags, problems: ProblemLog, cut: string, maxLineBytes: number, where: Record<string, unknown>): void {
  markLine(event, flags);
  if (flags.truncated) problems.report('line_truncated', `${cut} and marked log.truncated; its rest was skipped`, { ...where, max_line_bytes: maxLineBytes });
  if (flags.invalidUtf8) problems.report('invalid_utf8', 'a line that is not valid UTF-8: its invalid bytes were replaced with U+FFFD and it was marked log.invalid_utf8', where);
}

/**
 * Reads lines from a stream into batches, one batch per chunk read, waiting on `emit` (backpressure) before
 * reading on. Returns at end of stream or when the signal aborts.
 */
export async function readLinesInto(stream: Readable, ctx: InputContext, maxLineBytes: number): Promise<void> {
  const splitter = new LineSplitter(maxLineBytes);
  // Said in the log (the first of each kind at once, then a sum at most every 10 s), not only counted: before,
  // a cut or mangled line was known only from malformed_events_total.
  const problems = new ProblemLog(ctx.logger, ctx.signal);
  let events: LogEvent[] = [];
  const input = ctx.id;
  let malformed = 0;
  let lineNumber = 0;
  const onLine = (text: string, flags: LineFlags) => {
    lineNumber += 1;
    const event: LogEvent = { observedTimestamp: Date.now(), body: text, attributes: {}, source: { input } };
    if (flags.truncated || flags.invalidUtf8) {
      malformed += 1;
      markAndSayLine(event, flags, problems, `a line longer than max_line_bytes (${maxLineBytes}) was cut to it`, maxLineBytes, { line: lineNumber });
    }
    events.push(event);
  };
  const stop = () => stream.destroy();
  ctx.signal.addEventListener('abort', stop, { once: true });
  try {
    for await (const chunk of stream) {
      splitter.push(chunk as Buffer, onLine);
      if (events.length) {
        const batch = events;
        events = [];
        ctx.metrics.add('received_events_total', batch.length);
        await ctx.emit(batch);
      }
      if (malformed) {
        ctx.metrics.add('malformed_events_total', malformed);
        malformed = 0;
      }
      if (ctx.signal.aborted) break;
    }
  } catch (err) {
    if (!ctx.signal.aborted) throw err;
  } finally {
    ctx.signal.removeEventListener('abort', stop);
  }
  splitter.flush(onLine);
  // The last line, without a newline, may be malformed too (it was not counted).
  if (malformed) ctx.metrics.add('malformed_events_total', malformed);
  problems.flush();
  if (events.length) {
    ctx.metrics.add('received_events_total', events.length);
    await ctx.emit(events);
  }
}

export const stdinInput = defineInput({
  type: 'stdin',
  description: 'Reads standard input, one event per line (`\\n` or `\\r\\n`). At its end the input ends, and the pipeline drains and stops once every input has ended (with stdin alone, at its end; beside an input that goes on, a file or a listener, the daemon runs on). A file redirected to it (`< access.log`) is read 256 KiB at a time; a pipe as it comes.',
  config: stdinConfig,
  example: { type: 'stdin' },
  build(config) {
    return {
      run: (ctx) => readLinesInto(standardInput(), ctx, config.max_line_bytes),
    };
  },
});
