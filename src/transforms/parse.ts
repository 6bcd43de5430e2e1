/**
 * `parse`: turns raw lines into structured events (JSON, nginx/Apache access, logfmt, syslog).
 *
 * A line that does not parse is never dropped: it passes on unchanged with `attributes["parse.error"]`, and
 * failures are summed into at most one warning per 10 s, so a wrong `format` cannot flood the daemon's log,
 * and counted in `malformed_events_total`, so that they can be alerted on.
 */
import { z } from 'zod';
import { defineTransform } from '../engine/component.js';
import { severityNumberFromText, type AttributeValue, type Attributes, type LogEvent } from '../engine/event.js';
import { parseJson, parseTimestamp, typeName } from '../formats/json.js';
import { parseLogfmt } from '../formats/logfmt.js';
import { parseNginx } from '../formats/nginx.js';
import { applySyslogMessage, parseSyslog } from '../formats/syslog.js';
import { detach } from '../formats/detach.js';

const WARN_INTERVAL_MS = 10_000;
// pino and bunyan write numeric levels.
const NUMERIC_LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

export const parseConfig = z.object({
  format: z
    .enum(['json', 'nginx', 'logfmt', 'syslog'])
    .describe(
      '`json`: one JSON object per line. `nginx`: nginx/Apache "combined" (or "common") access lines, or nginx JSON ' +
        'access lines; severity comes from the status: 5xx ERROR, 4xx WARN, anything else INFO. `logfmt`: ' +
        '`key=value` pairs, values kept as strings. `syslog`: RFC 5424 or RFC 3164 (with or without `<PRI>`); the ' +
        'body becomes the message and the header goes into `syslog.*` attributes.',
    ),
  field: z
    .string()
    .regex(/^(?:body|attributes\..+)$/, 'expected `body` or `attributes.<name>`')
    .default('body')
    .describe(
      'Where the text to parse is: `body`, or `attributes.<name>`. The parsed result always becomes the body. ' +
        'Events whose field already holds an object (parsed upstream) pass unchanged.',
    ),
  keep_original: z
    .boolean()
    .default(false)
    .describe('Keep the raw line in `attributes["log.original"]` when it parses. Alerts (Slack, webhook, the `alert` encoding) then show it as the log entry instead of the parsed record.'),
});

export type ParseConfig = z.output<typeof parseConfig>;
type Format = ParseConfig['format'];
/** Parses `text` into `event`; returns an error message, or undefined on success. */
type Apply = (event: LogEvent, text: string, now: number) => string | undefined;

function setSeverity(event: LogEvent, text: string, number: number | undefined): void {
  event.severityText = text;
  if (number !== undefined) event.severityNumber = number;
}

/**
 * Event time and severity from the usual field names of JSON and logfmt loggers: the first of `timestamp`,
 * `time`, `@timestamp`, `ts` that reads as a time, and the first of `level`, `severity`, `lvl`, `log.level`
 * that holds a level. Each name is read as a property of its own, not in a loop over a list of names: a
 * read whose key changes from one turn to the next goes through V8's megamorphic lookup, eight a line.
 */
function applyWellKnownFields(event: LogEvent, record: Attributes): void {
  const ms = timeOf(record.timestamp) ?? timeOf(record.time) ?? timeOf(record['@timestamp']) ?? timeOf(record.ts);
  if (ms !== undefined) event.timestamp = ms;
  if (setLevel(event, record.level) || setLevel(event, record.severity) || setLevel(event, record.lvl)) return;
  let value: AttributeValue | undefined = record['log.level'];
  if (value === undefined) {
    const log = record.log; // ECS writes it nested as well as dotted
    if (log !== null && typeof log === 'object' && !Array.isArray(log)) value = log.level;
  }
  setLevel(event, value);
}

/** A time field's value as epoch ms: undefined when absent or not a time. */
function timeOf(value: AttributeValue | undefined): number | undefined {
  return value === undefined ? undefined : parseTimestamp(value);
}

/** Sets the severity from a level field's value, if it holds a level. */
function setLevel(event: LogEvent, value: AttributeValue | undefined): boolean {
  if (typeof value === 'string' && value !== '') {
    setSeverity(event, value, severityNumberFromText(value));
    return true;
  }
  if (typeof value === 'number' && NUMERIC_LEVELS[value] !== undefined) {
    const name = NUMERIC_LEVELS[value]!;
    setSeverity(event, name, severityNumberFromText(name));
    return true;
  }
  return false;
}

const applyJson: Apply = (event, text) => {
  const result = parseJson(text);
  if (!result.ok) return result.error;
  event.body = result.value;
  applyWellKnownFields(event, result.value);
  return undefined;
};

const applyLogfmt: Apply = (event, text) => {
  const result = parseLogfmt(text);
  if (!result.ok) return result.error;
  event.body = result.value;
  applyWellKnownFields(event, result.value);
  return undefined;
};

const applyNginx: Apply = (event, text) => {
  const result = parseNginx(text);
  if (!result.ok) return result.error;
  const { record, timestamp } = result.value;
  event.body = record;
  if (timestamp !== undefined) event.timestamp = timestamp;
  const status = record.status;
  if (typeof status === 'number') {
    if (status >= 500 && status < 600) setSeverity(event, 'ERROR', 17);
    else if (status >= 400 && status < 500) setSeverity(event, 'WARN', 13);
    else setSeverity(event, 'INFO', 9);
  }
  return undefined;
};

const applySyslog: Apply = (event, text, now) => {
  const result = parseSyslog(text, now);
  if (!result.ok) return result.error;
  applySyslogMessage(event, result.value);
  return undefined;
};

const APPLY: Record<Format, Apply> = { json: applyJson, nginx: applyNginx, logfmt: applyLogfmt, syslog: applySyslog };

export const parseTransform = defineTransform({
  type: 'parse',
  description:
    'Parses raw lines (JSON, nginx/Apache access, logfmt or syslog) into structured events with timestamp and ' +
    'severity. Lines that do not parse pass on unchanged, marked with `attributes["parse.error"]`.',
  config: parseConfig,
  example: { type: 'parse', inputs: ['web_access'], format: 'nginx', keep_original: false },
  build(config, ctx) {
    const format = config.format;
    const apply = APPLY[format];
    const attributeName = config.field === 'body' ? undefined : config.field.slice('attributes.'.length);
    const keepOriginal = config.keep_original;
    let failures = 0;
    let totalFailures = 0;
    let firstError: string | undefined;
    let lastWarn = -Infinity;

    const fail = (event: LogEvent, message: string): void => {
      const error = `${format}: ${message}`;
      event.attributes['parse.error'] = error;
      ctx.metrics?.add('malformed_events_total');
      failures++;
      totalFailures++;
      firstError ??= error;
    };

    const report = (now: number, force: boolean): void => {
      if (failures === 0 || (!force && now - lastWarn < WARN_INTERVAL_MS)) return;
      ctx.logger.warn(
        { failures, total_failures: totalFailures, first_error: firstError },
        `${failures} event(s) did not parse as ${format}; passed on unchanged with attributes["parse.error"]`,
      );
      failures = 0;
      firstError = undefined;
      lastWarn = now;
    };

    return {
      map(events) {
        const now = Date.now();
        for (let i = 0; i < events.length; i++) {
          const event = events[i]!;
          const raw = attributeName === undefined ? event.body : event.attributes[attributeName];
          if (typeof raw !== 'string') {
            if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) continue; // already parsed
            fail(event, raw === undefined ? `${config.field} is missing` : `${config.field} is ${typeName(raw)}, not a string`);
            continue;
          }
          const error = apply(event, raw, now);
          if (error !== undefined) fail(event, error);
          else {
            if (format !== 'json') detach(event, raw.length);
            if (keepOriginal) event.attributes['log.original'] = raw;
          }
        }
        report(now, false);
        return events;
      },
      flush() {
        report(Date.now(), true);
        return [];
      },
    };
  },
});
