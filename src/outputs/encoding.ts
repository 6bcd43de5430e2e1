/** How outputs turn events into lines; shared so that `file` and `console` write the same formats. */
import { bodyText, eventTime, severityName, type LogEvent } from '../engine/event.js';
import { renderAlertText, type AlertView } from './alert-format.js';
import { alertEntry } from './delivery/alert.js';

/**
 * `json`: the whole event; `text`: its body (JSON if structured); `pretty`: a line for people; `alert`: an
 * anomaly as a few lines for people (stream, kind, confidence, why, the entry), other events as `pretty`.
 */
export type EventEncoding = 'json' | 'text' | 'pretty' | 'alert';

/** A one-line, human-readable rendering: time, severity, input id, body, then attributes. */
export function prettyLine(event: LogEvent): string {
  const time = new Date(eventTime(event)).toISOString();
  // OTLP's SeverityNumber is an open enum: a client may send any int32 (-5, 0, 1000). Below 1 there is no
  // name to give, and indexing the table with a negative number crashed the output on every retry.
  const n = event.severityNumber;
  const severity = n !== undefined && n >= 1
    ? severityName(n)
    : (event.severityText ?? '-').toUpperCase();
  let attrs = '';
  for (const [k, v] of Object.entries(event.attributes)) attrs += ` ${k}=${JSON.stringify(v)}`;
  return `${time} ${severity.padEnd(5)} [${event.source.input}] ${bodyText(event)}${attrs ? ` ${attrs}` : ''}`;
}

/**
 * One event as a newline-terminated line (`alert`: a few lines). Text bodies are written as they are, so a
 * body that contains newlines spans several lines.
 */
export function encodeEvent(event: LogEvent, encoding: EventEncoding, color = false): string {
  switch (encoding) {
    case 'json':
      return JSON.stringify(event) + '\n';
    case 'text':
      return bodyText(event) + '\n';
    case 'pretty':
      return prettyLine(event) + '\n';
    case 'alert': {
      const anomaly = event.attributes.anomaly;
      if (anomaly && typeof anomaly === 'object' && !Array.isArray(anomaly) && typeof anomaly.why === 'string') {
        const view: AlertView = { anomaly: anomaly as unknown as AlertView['anomaly'], entry: alertEntry(event), time: eventTime(event) };
        if (event.source.file) view.location = event.source.offset !== undefined ? `${event.source.file} @${event.source.offset}` : event.source.file;
        return renderAlertText(view, color);
      }
      return prettyLine(event) + '\n';
    }
  }
}

/** Encodes events as encodeEvent does, in one string so that an output can write a batch at once. */
export function encodeEvents(events: readonly LogEvent[], encoding: EventEncoding, color = false): string {
  let out = '';
  for (const event of events) out += encodeEvent(event, encoding, color);
  return out;
}
