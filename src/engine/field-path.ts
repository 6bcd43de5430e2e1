/**
 * Fields of an event named by a dotted path, as a pipeline's settings name them: `body.service`,
 * `attributes.syslog.appname`, `resource.service.name`, `source.file`. Used by `anomaly_detect`'s
 * `stream_id` and the `filter` transform's conditions.
 */
import type { LogEvent } from './event.js';

/** The parts of an event a field's path starts with. */
export const FIELD_ROOTS = ['source', 'attributes', 'resource', 'body'];
/** The parts of an event whose names hold dots themselves (`syslog.appname`, `service.name`). */
export const DOTTED_ROOTS = new Set(['attributes', 'resource']);

/**
 * Whether `ref` is a path to a field of an event: one of FIELD_ROOTS, then at least one name, and no empty
 * name on the way (`body.`, `body..status` and `.status` name nothing: every event would lack them).
 */
export function isFieldPath(ref: string): boolean {
  const parts = ref.split('.');
  return parts.length > 1 && FIELD_ROOTS.includes(parts[0]!) && parts.every((p) => p !== '');
}

/**
 * The path most likely meant by `ref`, which is no field path, for an error's "e.g.": `.status` (Vector's
 * path) or `status` is the body's field, `Body.status` is body.status, `body.` and `body..status` lose the
 * empty names, a bare root gets an example name (not `body` where the body as a whole is a field: `wholeBody`).
 */
export function fieldPathMeant(ref: string, wholeBody = false): string {
  const bare = ref.replace(/^\.+/, '').replace(/\.+$/, '').replace(/\.{2,}/g, '.');
  const first = bare.split('.')[0]!.toLowerCase();
  const example: Record<string, string> = { body: 'body.status', attributes: 'attributes.syslog.appname', resource: 'resource.service.name', source: 'source.file' };
  if (bare === '') return 'body.request';
  if (wholeBody && bare.toLowerCase() === 'body') return 'body';
  if (bare.toLowerCase() in example) return example[bare.toLowerCase()]!;
  return FIELD_ROOTS.includes(first) || first === 'severity' ? first + bare.slice(first.length) : `body.${bare}`;
}

/** The part of an event a field's path starts with, or undefined for any other name. */
export function eventPart(event: LogEvent, root: string | undefined): unknown {
  switch (root) {
    case 'source':
      return event.source;
    case 'attributes':
      return event.attributes;
    case 'resource':
      return event.resource;
    case 'body':
      return event.body;
    default:
      return undefined;
  }
}

/**
 * A field's path compiled once, as a reader of that field on any event: `ref.split('.')` and the names to
 * try are worked out here, not for each event.
 *
 * Names hold dots themselves: attribute and resource names (`syslog.appname`, `service.name`) and the keys
 * of ECS loggers' bodies (`{"log.level":"error"}`). So at each object on the way, the longest name made of
 * the path's next parts that the object has is tried first, then shorter ones: `attributes.syslog.appname`
 * is the attribute `syslog.appname`, and `attributes.syslog.structured_data.origin.ip` the field `origin.ip`
 * inside the attribute `syslog.structured_data`. Only an object's own keys count (`body.constructor` is
 * no field), and an array's items are named by their index (`body.tags.0`).
 */
export function compileField(ref: string): (event: LogEvent) => unknown {
  const locate = compileFieldLocation(ref);
  return (event) => locate(event)?.value;
}

/** Where a field is: the object or array that holds it, under which key, and its value (never undefined). */
export interface FieldLocation {
  holder: Record<string, unknown> | unknown[];
  key: string;
  value: unknown;
}

/**
 * A field's path compiled once, as a finder of where that field is in any event (see `compileField` for how
 * the path is read), so that it can be changed or removed: the `redact` transform's `fields` and `remove`.
 * A bare root (`body`, `attributes`, `resource`, `source`) is found in the event itself.
 */
export function compileFieldLocation(ref: string): (event: LogEvent) => FieldLocation | undefined {
  const [root, ...parts] = ref.split('.');
  const n = parts.length;
  if (n === 0) {
    return (event) => {
      const value = eventPart(event, root);
      return value === undefined ? undefined : { holder: event as unknown as Record<string, unknown>, key: root!, value };
    };
  }
  // names[i][j]: parts i..j joined, the key tried for the parts from i on, longest (j = n - 1) first.
  const names = parts.map((_, i) => parts.map((__, j) => (j < i ? '' : parts.slice(i, j + 1).join('.'))));
  const from = (v: unknown, i: number): FieldLocation | undefined => {
    if (v === null || typeof v !== 'object') return undefined;
    const row = names[i]!;
    for (let j = n - 1; j >= i; j--) {
      const key = row[j]!;
      if (!Object.hasOwn(v, key)) continue;
      const value = (v as Record<string, unknown>)[key];
      const found = j + 1 === n ? (value === undefined ? undefined : { holder: v as Record<string, unknown>, key, value }) : from(value, j + 1);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return (event) => from(eventPart(event, root), 0);
}

const compiled = new Map<string, (event: LogEvent) => unknown>();

/** The value at `ref` (`body.service`), or undefined when the event has none there. */
export function lookupField(event: LogEvent, ref: string): unknown {
  let read = compiled.get(ref);
  if (read === undefined) {
    if (compiled.size >= 1000) compiled.clear(); // refs come from configs: a handful
    read = compileField(ref);
    compiled.set(ref, read);
  }
  return read(event);
}
