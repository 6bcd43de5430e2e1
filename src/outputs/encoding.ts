/** How outputs turn events into lines; shared so that `file` and `console` write the same formats. */
import { bodyText, type LogEvent } from '../engine/event.js';

/** `json`: the whole event; `text`: its body (JSON if structured); `pretty`: a line for people. */
export type EventEncoding = 'json' | 'text' | 'pretty';

const SEVERITY_NAMES = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'];

/** A one-line, human-readable rendering: time, severity, input id, body, then attributes. */
export function prettyLine(event: LogEvent): string {
  const time = new Date(event.timestamp ?? event.observedTimestamp).toISOString();
  const severity = event.severityNumber
    ? SEVERITY_NAMES[Math.min(5, Math.floor((event.severityNumber - 1) / 4))]!
    : (event.severityText ?? '-').toUpperCase();
  let attrs = '';
  for (const [k, v] of Object.entries(event.attributes)) attrs += ` ${k}=${JSON.stringify(v)}`;
  return `${time} ${severity.padEnd(5)} [${event.source.input}] ${bodyText(event)}${attrs ? ` ${attrs}` : ''}`;
}

/**
 * Encodes events as newline-terminated lines, in one string so that an output can write a batch at once.
 * Text bodies are written as they are, so a body that contains newlines spans several lines.
 */
export function encodeEvents(events: readonly LogEvent[], encoding: EventEncoding): string {
  let out = '';
  if (encoding === 'json') {
    for (const event of events) out += JSON.stringify(event) + '\n';
  } else if (encoding === 'text') {
    for (const event of events) out += bodyText(event) + '\n';
  } else {
    for (const event of events) out += prettyLine(event) + '\n';
  }
  return out;
}
