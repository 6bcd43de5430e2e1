/**
 * driftlock's event model, close to the OpenTelemetry log data model
 * (https://opentelemetry.io/docs/specs/otel/logs/data-model/).
 *
 * Timestamps are epoch milliseconds (a JS number keeps microsecond precision for current dates); inputs
 * that receive nanoseconds (OTLP) keep the exact value in `attributes` when it matters to them.
 */
export type AttributeValue = string | number | boolean | null | AttributeValue[] | { [key: string]: AttributeValue };
export type Attributes = Record<string, AttributeValue>;

/**
 * How deep maps and lists may nest in an event. Deeper values (a hostile or broken sender's 5,000 levels in
 * a 30 KB line) are cut off by the inputs and parsers: copying or serialising them overflows the stack,
 * which would take down every stage that touches the event.
 */
export const MAX_NESTING = 64;

/** What stands in for a value nested deeper than MAX_NESTING. */
export const TOO_DEEP = `[nested deeper than ${MAX_NESTING} levels: cut]`;

/** The latest time a JavaScript Date can hold (ms; the earliest is its negative): a `timestamp` beyond it is no time. */
export const MAX_TIME_MS = 8.64e15;

/**
 * The time to show or send for an event: its `timestamp` when a Date can hold it, else when it was observed
 * (else now). An input or plugin may hand on any number (`1e20`, `NaN`); outputs that wrote it as a date
 * threw "Invalid time value" on every retry of the batch, a crash loop.
 */
export function eventTime(event: Pick<LogEvent, 'timestamp' | 'observedTimestamp'>): number {
  return dateable(event.timestamp) ?? dateable(event.observedTimestamp) ?? Date.now();
}

/** `ms` when a Date can hold it (|ms| <= MAX_TIME_MS), else undefined (NaN and beyond-range numbers included). */
export function dateable(ms: number | undefined): number | undefined {
  return ms !== undefined && Math.abs(ms) <= MAX_TIME_MS ? ms : undefined;
}

/**
 * Stores a field under any key, `__proto__` too: a plain assignment to `__proto__` would set the object's
 * prototype instead and drop the field (JSON.parse, logfmt, syslog parameters and OTLP or msgpack maps can
 * all carry that key).
 */
export function setOwn<T>(target: Record<string, T>, key: string, value: NoInfer<T>): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/** Where an event came from. `input` is always set; the rest depends on the kind of input. */
export interface EventSource {
  /** Component id of the input that produced the event. */
  input: string;
  /** File path, for file-based inputs. */
  file?: string;
  /** Byte offset of the start of the line in `file`. */
  offset?: number;
  /** Remote address (`ip:port`) for network inputs. */
  peer?: string;
}

export interface LogEvent {
  /** When the event happened, epoch ms, if the record says so. */
  timestamp?: number;
  /** When driftlock first saw the event, epoch ms. Always set. */
  observedTimestamp: number;
  /** Severity as written by the source (`ERROR`, `warn`, `err`). */
  severityText?: string;
  /** OpenTelemetry severity number: 1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16 WARN, 17-20 ERROR, 21-24 FATAL. */
  severityNumber?: number;
  /** The log record itself: the raw line, or a structured object once parsed. */
  body: string | Attributes;
  /** Metadata about the record (parse errors, syslog header fields, OTLP attributes). */
  attributes: Attributes;
  /** Attributes of the producing entity (OTLP resource, e.g. `service.name`). */
  resource?: Attributes;
  /** Trace context, hex strings. */
  traceId?: string;
  spanId?: string;
  source: EventSource;
}

export function createEvent(body: string | Attributes, source: EventSource, observedTimestamp = Date.now()): LogEvent {
  return { observedTimestamp, body, attributes: {}, source };
}

/** The event's message as text: the body if it is a string, else its JSON. */
export function bodyText(event: LogEvent): string {
  return typeof event.body === 'string' ? event.body : JSON.stringify(event.body);
}

const SEVERITY_BY_NAME: Record<string, number> = {
  trace: 1, debug: 5, info: 9, information: 9, informational: 9, notice: 10, warn: 13, warning: 13,
  error: 17, err: 17, crit: 21, critical: 21, alert: 22, emerg: 23, emergency: 23, fatal: 21, panic: 23, severe: 17,
};

/** OpenTelemetry's severity names, lowest first: each covers four numbers (1-4 TRACE, 5-8 DEBUG, ...). */
export const SEVERITY_NAMES = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] as const;
export type SeverityName = (typeof SEVERITY_NAMES)[number];

/** The name of a severity number of 1 or more (above 24, FATAL). */
export function severityName(n: number): SeverityName {
  return SEVERITY_NAMES[Math.min(5, Math.floor((n - 1) / 4))]!;
}

/** The lowest severity number of a name (`WARN`: 13). */
export function severityFloor(name: SeverityName): number {
  return SEVERITY_NAMES.indexOf(name) * 4 + 1;
}

/** Maps a severity name as written by common loggers to an OpenTelemetry severity number. */
export function severityNumberFromText(text: string): number | undefined {
  return SEVERITY_BY_NAME[text.toLowerCase()];
}
