/**
 * A webhook's own body shape (`payload`), for receivers that want theirs: PagerDuty's Events API, Opsgenie,
 * Microsoft Teams, Discord, an incident tool. The template is JSON (written as YAML in the pipeline file);
 * in its strings, `{name}` is replaced by the alert's value: `{stream}`, `{kind}`, `{confidence}` (0.9991),
 * `{confidence_percent}` (99.9%), `{score}`, `{reason}`, `{field}`, `{pattern}`, `{entry}`, `{time}`,
 * `{id}`, `{group}` (stream/kind/field or pattern: a key to group or deduplicate incidents on), `{resolved}`
 * (true for the notice that a silent stream is back), or any field
 * of the event by its path (`{body.status}`, `{attributes.syslog.appname}`, `{resource.service.name}`,
 * `{source.file}`). A string that is one placeholder and nothing else takes the value's own type (a
 * number stays a number); inside a longer string it is written as text. A missing value is `null` alone and
 * empty inside text. Keys are taken as they are: a placeholder in a key is a config error.
 */
import type { LogEvent } from '../../engine/event.js';
import { FIELD_ROOTS, isFieldPath, lookupField } from '../../engine/field-path.js';
import { percent } from '../alert-format.js';
import { alertEntry, readAnomaly } from './alert.js';

/** A JSON value as YAML gives it. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

const NAMES = ['stream', 'kind', 'confidence', 'confidence_percent', 'score', 'reason', 'field', 'pattern', 'entry', 'time', 'id', 'group', 'resolved'] as const;
type Name = (typeof NAMES)[number];

const PLACEHOLDER = /\{([A-Za-z_][\w.-]*)\}/g;
const ALONE = /^\{([A-Za-z_][\w.-]*)\}$/;

/** What `{name}` means, or why it means nothing. */
function reader(name: string): ((v: Values) => unknown) | string {
  if ((NAMES as readonly string[]).includes(name)) return (v) => v.named[name as Name];
  // lookupField compiles a path once and keeps it: this runs for each placeholder of each alert sent.
  if (isFieldPath(name)) return (v) => lookupField(v.event, name);
  return `unknown placeholder {${name}}: use one of ${NAMES.map((n) => `{${n}}`).join(', ')}, or a field of the event (${FIELD_ROOTS.map((r) => `{${r}.…}`).join(', ')})`;
}

interface Values {
  named: Record<Name, unknown>;
  event: LogEvent;
}

/** A problem of a template, at `path` below it (a key, a list index): where the config's error points. */
export interface PayloadProblem {
  path: Array<string | number>;
  message: string;
}

/**
 * The problems of a template: unknown placeholders, placeholders in keys, values that are not JSON, each at
 * its place in the template. At its place, not at the template's: the config's error then points at the
 * value itself, and one whose `${VAR}` is not set is not judged (the unset variable is the problem said;
 * before, the PagerDuty example run without its routing key also said "unknown placeholder
 * {PAGERDUTY_ROUTING_KEY}" of `payload` and of `resolved_payload`).
 */
export function payloadProblems(template: unknown, at = 'payload'): PayloadProblem[] {
  // `payload:` with nothing after it (its body commented out, or indented under the wrong key) is YAML's null:
  // it was taken as the body, and every alert was posted as the four bytes `null`.
  if (template === null) return [{ path: [], message: `empty: write the body as a YAML map under it, or leave ${at} out for the standard body` }];
  const problems: PayloadProblem[] = [];
  const walk = (t: unknown, where: Array<string | number>): void => {
    if (typeof t === 'string') {
      for (const m of t.matchAll(PLACEHOLDER)) {
        const r = reader(m[1]!);
        if (typeof r === 'string') problems.push({ path: where, message: r });
      }
    } else if (Array.isArray(t)) t.forEach((x, i) => walk(x, [...where, i]));
    else if (t !== null && typeof t === 'object') {
      for (const [k, x] of Object.entries(t)) {
        // Keys are sent as written: a placeholder there would reach the receiver as `{stream}`, unsaid.
        const m = PLACEHOLDER.exec(k);
        PLACEHOLDER.lastIndex = 0;
        if (m) problems.push({ path: [...where, k], message: `the key holds ${m[0]}, which is not filled (keys are sent as written; placeholders are filled in values only)` });
        walk(x, [...where, k]);
      }
    }
    else if (t !== null && typeof t !== 'number' && typeof t !== 'boolean') problems.push({ path: where, message: 'not a JSON value' });
  };
  walk(template, []);
  return problems;
}

function asText(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** Whether a template uses the placeholder `name` anywhere (`{resolved}`: it tells opening from closing). */
export function usesPlaceholder(template: unknown, name: string): boolean {
  if (typeof template === 'string') return [...template.matchAll(PLACEHOLDER)].some((m) => m[1] === name);
  if (Array.isArray(template)) return template.some((t) => usesPlaceholder(t, name));
  if (template !== null && typeof template === 'object') return Object.values(template).some((t) => usesPlaceholder(t, name));
  return false;
}

/** Fills `template` for one event (its `id` and `time` as the webhook's standard body gives them). */
export function renderPayload(template: Json, event: LogEvent, id: string, time: string): Json {
  const a = readAnomaly(event);
  const values: Values = {
    event,
    named: {
      stream: a?.stream_id ?? null,
      kind: a?.kind ?? null,
      confidence: a?.confidence ?? null,
      confidence_percent: a ? percent(a.confidence) : null,
      score: a?.score ?? null,
      reason: a?.why ?? null,
      field: a?.field ?? null,
      pattern: a?.template ?? null,
      entry: alertEntry(event),
      time,
      id,
      group: a ? `${a.stream_id}/${a.kind}/${a.field ?? a.template ?? ''}` : null,
      resolved: a?.resolved === true,
    },
  };
  const fill = (t: Json): Json => {
    if (typeof t === 'string') {
      const alone = ALONE.exec(t);
      if (alone) {
        const v = (reader(alone[1]!) as (v: Values) => unknown)(values);
        return v === undefined ? null : (v as Json);
      }
      return t.replace(PLACEHOLDER, (_, name: string) => asText((reader(name) as (v: Values) => unknown)(values)));
    }
    if (Array.isArray(t)) return t.map(fill);
    if (t !== null && typeof t === 'object') {
      const out: { [key: string]: Json } = {};
      for (const [k, x] of Object.entries(t)) out[k] = fill(x);
      return out;
    }
    return t;
  };
  return fill(template);
}
