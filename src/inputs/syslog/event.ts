/**
 * One received syslog message as an event: the header parsed by `src/formats/syslog.ts` (RFC 5424 or 3164) into
 * `syslog.*` attributes, the same names the `parse` transform uses, and the message as the body. A message that
 * does not parse is kept whole as the body with `attributes["parse.error"]`; a cut one is marked
 * `log.truncated`, invalid UTF-8 `log.invalid_utf8` (replaced with U+FFFD).
 */
import { isUtf8 } from 'node:buffer';
import type { LogEvent } from '../../engine/event.js';
import { applySyslogMessage, parseSyslog } from '../../formats/syslog.js';
import { detach } from '../../formats/detach.js';

/** Moves a cut point back so that it does not split a multi-byte UTF-8 character. */
function utf8Boundary(buf: Buffer): number {
  let i = buf.length;
  while (i > 0 && i > buf.length - 4 && (buf[i - 1]! & 0xc0) === 0x80) i--;
  // i is now just after the last non-continuation byte; if that byte starts a sequence that is incomplete, drop it.
  if (i > 0) {
    const lead = buf[i - 1]!;
    const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    if (need > 1 && buf.length - (i - 1) < need) return i - 1;
  }
  return buf.length;
}

/**
 * Returns the event and whether it is malformed (cut, invalid UTF-8 or unparseable). `parseHeader: false`:
 * the message is the body as sent (a template with no syslog header, such as rsyslog's JSON), not parsed.
 */
export function syslogEvent(bytes: Buffer, truncated: boolean, input: string, peer: string | undefined, now: number, parseHeader = true): { event: LogEvent; malformed: boolean } {
  const end = truncated ? utf8Boundary(bytes) : bytes.length;
  const slice = end === bytes.length ? bytes : bytes.subarray(0, end);
  const valid = isUtf8(slice);
  let text = slice.toString('utf8');
  if (text.endsWith('\n')) text = text.slice(0, text.endsWith('\r\n') ? -2 : -1);
  const event: LogEvent = { observedTimestamp: now, body: text, attributes: {}, source: peer === undefined ? { input } : { input, peer } };
  const attributes = event.attributes;
  let malformed = false;
  if (truncated) {
    attributes['log.truncated'] = true;
    malformed = true;
  }
  if (!valid) {
    attributes['log.invalid_utf8'] = true;
    malformed = true;
  }
  if (!parseHeader) return { event, malformed };
  const result = parseSyslog(text, now);
  if (!result.ok) {
    attributes['parse.error'] = result.error;
    return { event, malformed: true };
  }
  applySyslogMessage(event, result.value);
  detach(event, text.length);
  return { event, malformed };
}
