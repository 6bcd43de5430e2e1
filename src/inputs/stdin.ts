/** `stdin`: one event per line of standard input; the daemon's inputs end at EOF. */
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { defineInput, type InputContext } from '../engine/component.js';
import type { LogEvent } from '../engine/event.js';
import { byteSize } from '../config/schema.js';
import { LineSplitter, type LineFlags } from './line-splitter.js';

export const stdinConfig = z.object({
  max_line_bytes: byteSize().prefault('1MiB').describe('Longer lines are cut to this size and marked `log.truncated`; the next line is unaffected.'),
});

/** Marks an event with what the line splitter noticed about its line. */
export function markLine(event: LogEvent, flags: LineFlags): void {
  if (flags.truncated) event.attributes['log.truncated'] = true;
  if (flags.invalidUtf8) event.attributes['log.invalid_utf8'] = true;
}

/**
 * Reads lines from a stream into batches, one batch per chunk read, waiting on `emit` (backpressure) before
 * reading on. Returns at end of stream or when the signal aborts.
 */
export async function readLinesInto(stream: Readable, ctx: InputContext, maxLineBytes: number): Promise<void> {
  const splitter = new LineSplitter(maxLineBytes);
  let events: LogEvent[] = [];
  const input = ctx.id;
  let malformed = 0;
  const onLine = (text: string, flags: LineFlags) => {
    const event: LogEvent = { observedTimestamp: Date.now(), body: text, attributes: {}, source: { input } };
    if (flags.truncated || flags.invalidUtf8) {
      markLine(event, flags);
      malformed += 1;
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
  if (events.length) {
    ctx.metrics.add('received_events_total', events.length);
    await ctx.emit(events);
  }
}

export const stdinInput = defineInput({
  type: 'stdin',
  description: 'Reads standard input, one event per line (`\\n` or `\\r\\n`). The pipeline stops when standard input ends.',
  config: stdinConfig,
  example: { type: 'stdin' },
  build(config) {
    return {
      run: (ctx) => readLinesInto(process.stdin, ctx, config.max_line_bytes),
    };
  },
});
