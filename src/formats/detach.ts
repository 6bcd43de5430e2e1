/**
 * Parsed events that do not keep their whole line alive through a small part of it (see `detach`).
 */
import { ownCopy } from '../detector/strings.js';
import type { LogEvent } from '../engine/event.js';

/**
 * Lines at least this long have the strings a parser cut out of them copied (see `detach`). JSON values are
 * new strings anyway (JSON.parse), so only the other formats need it.
 */
const DETACH_FROM = 1024;
/** V8 copies shorter slices anyway: only from this length on is a slice a view of its line. */
const SLICE_LENGTH = 13;

/** `value` as a string of its own when it is a short part of a long line (else as it is). */
function detached(value: string, lineLength: number): string {
  return value.length >= SLICE_LENGTH && value.length * 2 < lineLength ? ownCopy(value) : value;
}

/**
 * Copies the strings a parser cut out of a long line (of `DETACH_FROM` characters or more; else nothing). In V8 a slice of a string is a view that keeps the
 * whole of it alive: a short `msg` from a 200 KB logfmt line, kept by the detector as a known value, a
 * remembered message or a stream id, kept the 200 KB with it (800 such lines: 98 MiB held after GC). A
 * part as long as half the line is left as it is: copying it would save little.
 */
export function detach(event: LogEvent, lineLength: number): void {
  if (lineLength < DETACH_FROM) return;
  const body = event.body;
  if (typeof body === 'string') event.body = detached(body, lineLength);
  else if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    for (const key in body) {
      const v = body[key];
      if (typeof v === 'string') body[key] = detached(v, lineLength);
    }
  }
  const attributes = event.attributes;
  for (const key in attributes) {
    const v = attributes[key];
    if (typeof v === 'string' && key.startsWith('syslog.')) attributes[key] = detached(v, lineLength);
  }
}
