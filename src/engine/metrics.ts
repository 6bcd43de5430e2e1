/**
 * Counters and gauges, kept per component, exposed in Prometheus text format by the API server and summed
 * up in the shutdown log line. Deliberately tiny: a map of numbers, no allocation on the hot path beyond the
 * first use of a name.
 */
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
  help: string;
  type: 'counter' | 'gauge';
}

const HELP: Record<string, string> = {
  received_events_total: 'Events that entered the component.',
  sent_events_total: 'Events that the component passed on or wrote.',
  discarded_events_total: 'Events dropped by a full buffer (when_full: drop_newest), or datagrams a UDP input dropped while the pipeline was full.',
  rejected_events_total: 'Events refused for good (bad input, or an output that rejected them).',
  malformed_events_total: 'Events passed on with a mark because their input was malformed (cut, invalid UTF-8, unparseable).',
  errors_total: 'Errors inside the component (logged with the component id).',
  restarts_total: 'Times the engine restarted the component after it crashed.',
  abandoned_events_total: 'Events a transform or output gave up on: the shutdown timeout cut its drain short, an output could not queue them at a stop (its on-disk queue full), it kept crashing after its input ended (inputs that can offer them again do), or a transform held them back for a flush() that failed (when it says how many: those are lost).',
  flush_failures_total: 'Times a transform\'s flush() (at a stop, a reload or the end of its input) failed: what it held back for it was lost.',
  buffer_events: 'Events waiting in the buffer in front of the component.',
  buffer_bytes: 'Bytes of the events waiting in the buffer in front of the component, as estimated for buffer.max_bytes.',
  anomalies_total: 'Events the anomaly detector flagged, by the kind of anomaly (sum() for all).',
  failed_events_total: 'Events of the batches a transform failed on (threw), by what its on_error did with them: outcome="passed" (sent on as it left them) or "dropped".',
  filtered_events_total: 'Events a filter dropped by its conditions (acknowledged as delivered).',
  redacted_events_total: 'Events the redact transform replaced or removed something in.',
  redactions_total: 'Replacements and removals the redact transform made, by pattern (credentials, credit_card, email, ip, custom, remove).',
  redaction_failed_events_total: 'Events the redact transform dropped because it could not redact them (never passed on as they were).',
  stream_id_unresolved_events_total: 'Events the anomaly detector put in the stream `-` because they lack a field its `stream_id` names.',
  delivery_requests_total: 'HTTP requests an output sent (first tries and retries).',
  delivery_retries_total: 'Requests an output retried (408, 429, 5xx, timeouts, network errors).',
  delivery_rejected_total: 'Records a receiver refused for good (other 4xx): logged, not retried.',
  delivered_records_total: 'Records a receiver accepted (2xx).',
  skipped_events_total: 'Events an output left out on purpose (e.g. below min_confidence).',
  queue_records: 'Records waiting in the output\'s on-disk queue.',
  queue_bytes: 'Bytes of records waiting in the output\'s on-disk queue (at most queue.max_bytes, give or take one batch).',
  detector_streams: 'Streams (baselines) the anomaly detector holds.',
  detector_evicted_streams_total: 'Streams the anomaly detector evicted (least recently seen) to stay within max_streams.',
  detector_evicted_cold_streams_total: 'Streams evicted before their warm-up ended, never scored: more streams take turns than max_streams keeps.',
  file_rotations_total: 'Rotations the file input followed (a file renamed or replaced under its name).',
  file_truncations_total: 'Truncations the file input saw (copytruncate, or a file emptied in place).',
  files_open: 'Files the file input holds open.',
  files_waiting: 'Files the file input found but has not opened yet: max_open_files are open, or the open-files limit was hit; they are read in turn.',
  max_open_files_now: 'Files the file input holds open at most now: max_open_files, lower for a while after the process ran out of file descriptors (raised back a step per check_interval once opens work again).',
  deferred_opens_total: 'Opens of files the file input put off because the process or the system had too many open files (each retried).',
  file_lost_bytes_total: 'Bytes of a file the file input could not read: it was truncated before it was read to its end, and no copy holding the rest was found.',
  too_many_open_files_total: 'Times the file input could not open a file, list a folder or save its checkpoints, or a network input could not accept connections (once each time, however long), because the process (EMFILE) or the system (ENFILE) had too many open files.',
  refused_requests_total: 'Requests an input did not take into the pipeline: it was full, or too slow to answer before the call\'s deadline, or the client gave up while its request waited (the client retries: backpressure, not loss).',
  ack_dropped_events_total: 'Events the input emitted that a full drop_newest buffer downstream discarded, or a transform dropped when it failed on them (on_error: drop).',
  ack_rejected_events_total: 'Events the input emitted that an output downstream refused for good.',
};

/** Counters every component exports from the start. */
export const COMMON_COUNTERS = ['received_events_total', 'sent_events_total', 'rejected_events_total', 'malformed_events_total', 'errors_total', 'restarts_total'];

/** The labels every sample of a component has: a counter's own labels cannot take their place. */
const COMPONENT_LABELS = new Set(['component_id', 'component_kind', 'component_type']);

/**
 * A counter's own labels as they are exported: names made valid for Prometheus (`[a-zA-Z_][a-zA-Z0-9_]*`,
 * anything else `_`: one invalid name makes it reject the whole scrape), one that is a component label
 * renamed `exported_NAME` (as Prometheus renames a target's label it would overwrite), values as text, in
 * the order of their names (so that `{a, b}` and `{b, a}` are one series). Undefined for no labels.
 */
function ownLabels(labels: Readonly<Record<string, unknown>> | undefined): Record<string, string> | undefined {
  if (labels === undefined) return undefined;
  const named: Array<[string, string]> = [];
  for (const k in labels) {
    let name = k.replace(/[^a-zA-Z0-9_]/g, '_').replace(/^(?=[0-9]|$)/, '_');
    if (COMPONENT_LABELS.has(name)) name = `exported_${name}`;
    named.push([name, String(labels[k])]);
  }
  if (named.length === 0) return undefined;
  named.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(named);
}

/**
 * The key of a counter: its name alone, or with the labels it adds to the component's (`anomalies_total`
 * by `kind`, as `ownLabels` gives them) after a NUL.
 */
function counterKey(name: string, labels: Readonly<Record<string, string>> | undefined): string {
  if (labels === undefined) return name;
  let key = name;
  for (const k in labels) key += `\u0000${k}=${labels[k]}`;
  return key;
}

/** The name of a counter's key (see `counterKey`). */
function nameOf(key: string): string {
  const i = key.indexOf('\u0000');
  return i < 0 ? key : key.slice(0, i);
}

export class ComponentMetrics {
  readonly id: string;
  readonly kind: string;
  readonly type: string;
  /** By `counterKey`. */
  private readonly counters = new Map<string, number>();
  /** The labels of the counters that add some to the component's, by key. */
  private readonly extraLabels = new Map<string, Readonly<Record<string, string>>>();
  /** Values kept elsewhere, read when metrics are scraped, with the type Prometheus is told. */
  private readonly readers = new Map<string, { read: () => number; type: MetricSample['type'] }>();
  /** Counts of the same component in the pipelines a reload replaced, added to its counters on `/metrics`. */
  private readonly carried = new Map<string, number>();

  constructor(id: string, kind: string, type: string) {
    this.id = id;
    this.kind = kind;
    this.type = type;
  }

  /**
   * Counters exported from the start, at 0: a series that appears only at its first error cannot be
   * alerted on (`increase()` and `absent()` see nothing before it).
   */
  declare(...names: string[]): this {
    for (const name of names) if (!this.counters.has(name)) this.counters.set(name, 0);
    return this;
  }

  /**
   * Declares one counter per value of a label (`anomalies_total` by `kind`: every kind the detector can
   * report), each at 0 from the start, as `declare` does for counters without one.
   */
  declareEach(name: string, label: string, values: readonly string[]): this {
    for (const v of values) this.add(name, 0, { [label]: v });
    return this;
  }

  /**
   * Adds to a counter; `labels` (a few values, known in advance: never an id from the data) make a series of
   * its own beside the component's labels, e.g. `anomalies_total{kind="field_value"}`, exported as
   * `ownLabels` says (a plugin's `status-code` is `status_code`, its `component_id` `exported_component_id`,
   * in any order one series). A name is counted with labels or without, not both: `sum()` over the family is
   * then its total.
   */
  add(name: string, value = 1, labels?: Readonly<Record<string, string>>): void {
    const own = ownLabels(labels);
    const key = counterKey(name, own);
    const had = this.counters.get(key);
    if (had === undefined && own !== undefined) this.extraLabels.set(key, own);
    this.counters.set(key, (had ?? 0) + value);
  }

  /** A counter's value: with `labels`, that series'; without, the sum of every series of the name. */
  get(name: string, labels?: Readonly<Record<string, string>>): number {
    if (labels !== undefined) return this.counters.get(counterKey(name, ownLabels(labels))) ?? 0;
    // A value read elsewhere under the name is the one exported (see `samples`); otherwise every series of
    // the name, with labels or without, as the exit summary sums them.
    const read = this.readers.get(name)?.read;
    if (read !== undefined) return read();
    let sum = 0;
    for (const [key, value] of this.counters) if (nameOf(key) === name) sum += value;
    return sum;
  }

  /**
   * A counter of no labels as `/metrics` exports it: with what the same component counted in the pipelines a
   * reload replaced (`carryOver`), which `get` leaves out.
   */
  total(name: string): number {
    return this.get(name) + (this.carried.get(counterKey(name, undefined)) ?? 0);
  }

  /**
   * A value read when metrics are scraped (e.g. buffer depth), exposed as a gauge. A name ending in
   * `_total` is a count that only grows and is exposed as a counter all the same (`counter()` says so).
   */
  gauge(name: string, read: () => number): void {
    this.readers.set(name, { read, type: name.endsWith('_total') ? 'counter' : 'gauge' });
  }

  /**
   * A count kept elsewhere that only grows (e.g. a buffer's dropped events), read when metrics are scraped:
   * a counter to Prometheus, whoever keeps it (rate() and resets depend on the type).
   */
  counter(name: string, read: () => number): void {
    this.readers.set(name, { read, type: 'counter' });
  }

  /**
   * Carries the counters of the same component (id, kind and type) in the pipeline a reload replaced: a
   * counter on `/metrics` only grows for the life of the process, as Prometheus expects (a drop reads as a
   * restart, and what was counted since the last scrape is lost from `increase()`). Gauges start afresh.
   */
  carryOver(previous: ComponentMetrics): void {
    if (previous.id !== this.id || previous.kind !== this.kind || previous.type !== this.type) return;
    for (const s of previous.samples()) {
      if (s.type !== 'counter') continue;
      const extra: Record<string, string> = {};
      for (const k in s.labels) if (!COMPONENT_LABELS.has(k)) extra[k] = s.labels[k]!;
      const own = ownLabels(extra);
      const key = counterKey(s.name.slice('driftlock_'.length), own);
      this.carried.set(key, s.value);
      if (own !== undefined) this.extraLabels.set(key, own);
    }
  }

  /**
   * Its samples. A value that cannot be read is left out, and `unreadable` hears which and why: a plugin's
   * gauge that reads /proc throws EMFILE when the process is out of file descriptors, and thrown in the
   * API's handler that ended the daemon (an uncaught exception).
   */
  samples(unreadable?: (name: string, err: unknown) => void): MetricSample[] {
    const labels = { component_id: this.id, component_kind: this.kind, component_type: this.type };
    const labelsOf = (key: string) => {
      const extra = this.extraLabels.get(key);
      return extra ? { ...labels, ...extra } : labels;
    };
    const out: MetricSample[] = [];
    const counter = (key: string, value: number) => (this.carried.get(key) ?? 0) + value;
    for (const [key, value] of this.counters) {
      const name = nameOf(key);
      // A value read elsewhere under the same name (the engine's buffer_events) is the one exported.
      if (this.readers.has(name)) continue;
      out.push({ name: `driftlock_${name}`, labels: labelsOf(key), value: counter(key, value), help: HELP[name] ?? name, type: 'counter' });
    }
    for (const [name, { read, type }] of this.readers) {
      const value = readValue(read, (err) => unreadable?.(`driftlock_${name}`, err));
      if (value === undefined) continue;
      out.push({ name: `driftlock_${name}`, labels, value: type === 'counter' ? counter(name, value) : value, help: HELP[name] ?? name, type });
    }
    // A counter the replaced pipeline had and this one has not (yet): it does not vanish.
    for (const [key, value] of this.carried) {
      const name = nameOf(key);
      if (!this.counters.has(key) && !this.readers.has(name)) out.push({ name: `driftlock_${name}`, labels: labelsOf(key), value, help: HELP[name] ?? name, type: 'counter' });
    }
    return out;
  }

  /**
   * Values for the summary logged at exit; those at 0 (counters and gauges: an empty buffer at exit is the
   * rule) are left out, to keep it short. `/metrics` still exports them. A counter with labels of its own is
   * summed over them (`anomalies_total`, whatever their kind).
   */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, value] of this.counters) {
      const name = nameOf(key);
      if (value !== 0) out[name] = (out[name] ?? 0) + value;
    }
    for (const [name, { read }] of this.readers) {
      const value = readValue(read);
      if (value !== undefined && value !== 0) out[name] = value;
    }
    return out;
  }
}

/** A reader's value, or undefined (and `failed` hears why) when it throws. */
function readValue(read: () => number, failed?: (err: unknown) => void): number | undefined {
  try {
    return read();
  } catch (err) {
    failed?.(err);
    return undefined;
  }
}

/**
 * Renders samples in the Prometheus text exposition format. Names a plugin chose are made valid (`[a-zA-Z0-9_:]`,
 * anything else becomes `_`), and a series is written once, with its family's type: one sample Prometheus
 * cannot parse, or a series written twice, makes it reject the whole scrape, every component's metrics with it
 * (a plugin's `cache-hits`, or its own `buffer_events` beside the engine's, did).
 */
export function renderPrometheus(samples: MetricSample[]): string {
  const byName = new Map<string, MetricSample[]>();
  for (const s of samples) {
    const name = s.name.replace(/[^a-zA-Z0-9_:]/g, '_').replace(/^(?=[0-9])/, '_');
    const list = byName.get(name);
    if (list) list.push(s);
    else byName.set(name, [s]);
  }
  const lines: string[] = [];
  for (const [name, list] of byName) {
    const { type, help } = list[0]!;
    lines.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`);
    const written = new Set<string>();
    for (const s of list) {
      if (s.type !== type) continue;
      const labels = Object.entries(s.labels)
        .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
        .join(',');
      if (written.has(labels)) continue;
      written.add(labels);
      lines.push(`${name}{${labels}} ${s.value}`);
    }
  }
  return lines.join('\n') + '\n';
}
