/**
 * What a stage must hand the engine, checked where it hands it: the stage build() returns, the events an
 * input emits, the arrays map() and flush() return, the batches stream() yields. A plugin's mistake is said
 * as its own failure, in words, instead of failing further on in the engine or an innocent stage.
 */
import type { Batch } from './acknowledgement.js';
import type { ComponentKind } from './component.js';
import type { LogEvent } from './event.js';

/**
 * A transform's `map()` or `flush()` result, checked before it goes on: a plugin's that returns something
 * other than an array of events (undefined, one event, nulls) would otherwise fail further on, in the
 * engine (`undefined` stopped the daemon, exit 70) or in an innocent stage downstream (a file output
 * rejected the batch for good, and a buffer counted NaN events and never drained). Thrown, it is the
 * transform's own failure: its events pass on or are dropped (its `on_error`), logged and counted on it.
 * What the engine and the stages after it rely on besides a body is filled in where the transform (`id`)
 * left it out, as for an input's events (see `completeEvent`).
 */
export function checkMapped(out: unknown, what: string, id: string, must = `${what} must return an array of events`): LogEvent[] {
  if (!Array.isArray(out)) throw new Error(`${must}; it returned ${describe(out)}`);
  for (let i = 0; i < out.length; i++) {
    const not = notAnEvent(out[i]);
    if (not !== undefined) throw new Error(`${must}; item ${i} is ${not}`);
    completeEvent(out[i] as Partial<LogEvent>, id);
  }
  return out as LogEvent[];
}

/**
 * Fills in what the engine and other stages rely on besides a body (`attributes`, `source`,
 * `observedTimestamp`) where an event lacks it, `origin` (the input, or the transform that made it) as its
 * source. A plugin transform that built new events of a body alone made `anomaly_detect` after it fail on
 * every batch (it reads and marks their attributes), blamed on the detector, not on the plugin.
 */
export function completeEvent(event: Partial<LogEvent>, origin: string): void {
  if (event.attributes === null || typeof event.attributes !== 'object') event.attributes = {};
  if (event.source === null || typeof event.source !== 'object') event.source = { input: origin };
  if (typeof event.observedTimestamp !== 'number') event.observedTimestamp = Date.now();
}

/** What `e` is when it is not an event (one needs a body: a string or an object), or undefined when it is one. */
function notAnEvent(e: unknown): string | undefined {
  if (e === null || typeof e !== 'object') return describe(e);
  const body = (e as { body?: unknown }).body;
  return typeof body === 'string' || (body !== null && typeof body === 'object') ? undefined : 'an object without a body (a string or an object)';
}

/**
 * What a component's build() returned, checked for the method its kind runs: a plugin's that misnamed it
 * (`write` for `consume`) crashed at every restart ("current.consume is not a function"), and a transform
 * with neither `map` nor `stream` (`transform`) passed every event on untouched without a word.
 */
export function checkStage(kind: ComponentKind, stage: unknown): unknown {
  const has = (name: string) => typeof (stage as Record<string, unknown> | null)?.[name] === 'function';
  const needs = kind === 'input' ? ['run'] : kind === 'output' ? ['consume'] : ['map', 'stream', 'flush'];
  if (!needs.some(has)) {
    const found = stage !== null && typeof stage === 'object' ? Object.keys(stage) : [];
    const what = stage === null || typeof stage !== 'object' ? describe(stage) : found.length ? `an object with ${found.join(', ')}` : 'an empty object';
    throw new Error(`build() must return ${kind === 'transform' ? 'a stage with map(), stream() or flush()' : `a stage with ${needs[0]}()`}; it returned ${what}`);
  }
  return stage;
}

/**
 * A batch a stream transform yielded, checked as map()'s results are: events alone (`yield batch.events`)
 * crashed it with "out.finalizers is not iterable", and what is not an event failed in a stage downstream.
 */
export function checkYielded(out: unknown, id: string): Batch {
  const b = out as Partial<Batch> | null;
  if (b === null || typeof b !== 'object' || Array.isArray(b) || !Array.isArray(b.finalizers)) {
    throw new Error(`stream() must yield batches, { events, finalizers } (the finalizers of the batches its events come from); it yielded ${Array.isArray(out) ? 'an array (events alone?)' : b !== null && typeof b === 'object' ? 'an object without a finalizers list' : describe(out)}`);
  }
  checkMapped(b.events, 'stream()', id, 'the events of a batch stream() yields must be an array of events');
  return b as Batch;
}

/**
 * The events an input emitted that are events: a body (a string or an object); what the engine and other
 * stages rely on besides (`attributes`, `source`, `observedTimestamp`) is filled in when missing. `refused`
 * says how many items were not, and why (the first).
 */
export function checkEmitted(emitted: unknown, input: string): { events: LogEvent[]; refused?: { count: number; reason: string } } {
  if (!Array.isArray(emitted)) return { events: [], refused: { count: 1, reason: `emit() was given ${describe(emitted)}, not an array of events` } };
  let events = emitted as LogEvent[];
  let refused: { count: number; reason: string } | undefined;
  for (let i = 0; i < emitted.length; i++) {
    const e: unknown = emitted[i];
    const not = notAnEvent(e);
    if (not !== undefined) {
      if (!refused) {
        refused = { count: 0, reason: `item ${i} is ${not}` };
        events = emitted.slice(0, i) as LogEvent[];
      }
      refused.count += 1;
      continue;
    }
    completeEvent(e as Partial<LogEvent>, input);
    if (refused) events.push(e as LogEvent);
  }
  return refused ? { events, refused } : { events };
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
