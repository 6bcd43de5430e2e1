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

/** The value at `ref` (`body.service`), or undefined when the event has none there. */
export function lookupField(event: LogEvent, ref: string): unknown {
  const [root, ...rest] = ref.split('.');
  let v = eventPart(event, root);
  if (DOTTED_ROOTS.has(root!) && v) {
    // Attribute names contain dots themselves (`syslog.appname`): try the longest name first.
    const name = rest.join('.');
    if (name in (v as object)) return (v as Record<string, unknown>)[name];
  }
  for (const key of rest) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}
