/**
 * `filter`: drops events by conditions on their fields, as Fluent Bit's `grep` filter and Vector's `filter`
 * transform do: health checks and probes before they reach `anomaly_detect`, debug lines before an output.
 *
 * An event passes when it matches the `include` conditions (all of them, or any with `include_mode: any`;
 * no `include`: every event), matches none of the `exclude` conditions, and is not below `min_severity`.
 * Dropped events are counted (`filtered_events_total`) and acknowledged as delivered: an input does not
 * read them again. A condition names a field as `stream_id` does (`body.request`, `attributes.syslog.appname`,
 * `resource.service.name`, `source.file`), or `body` (the whole message), or `severity`.
 */
import { z } from 'zod';
import { defineTransform } from '../engine/component.js';
import { bodyText, SEVERITY_NAMES, severityFloor, severityName, severityNumberFromText, type LogEvent } from '../engine/event.js';
import { compileField, FIELD_ROOTS, fieldPathMeant, isFieldPath } from '../engine/field-path.js';
import { compileUserRegex } from '../engine/user-regex.js';

const TESTS = ['equals', 'matches', 'contains', 'exists'] as const;

const condition = z
  .strictObject({
    field: z.string().min(1).describe('The field: `body` (the whole message), `severity` (its name: TRACE, DEBUG, INFO, WARN, ERROR or FATAL; `error`, `warning` or `err` name the same), or a path such as `body.request`, `body.http.status`, `attributes.syslog.appname`, `resource.service.name`, `source.file`.'),
    equals: z
      .union([z.string(), z.number(), z.boolean()])
      .optional()
      .meta({ expected: 'text, a number or true/false (a field that is missing or null: `exists: false`)' })
      .describe('The field holds this value (a number also matches its decimal text: `200` matches `"200"` and `"200.0"`, not `"2e2"` or `"0xC8"`).'),
    matches: z.string().optional().describe('The field, as text, matches this regular expression (JavaScript syntax; anchors `^` and `$` are yours to write). It must run in linear time, as Vector\'s do: lookarounds and backreferences are refused.'),
    contains: z.string().optional().describe('The field, as text, contains this text.'),
    exists: z.boolean().optional().describe('`true`: the event has the field; `false`: it has not.'),
    ignore_case: z.boolean().default(false).describe('Compare text without regard to case (`equals`, `matches`, `contains`).'),
  })
  .superRefine((c, ctx) => {
    const given = TESTS.filter((t) => c[t] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({ code: 'custom', message: given.length === 0 ? `a condition needs one test: ${TESTS.join(', ')}` : `a condition has one test, not ${given.join(' and ')} (write two conditions)` });
    }
    const problem = fieldProblem(c.field);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', path: ['field'], message: problem });
    if (c.matches !== undefined) {
      const flag = /^\(\?([a-z]+)\)/.exec(c.matches);
      try {
        compileUserRegex(c.matches, { ignoreCase: c.ignore_case });
      } catch (err) {
        const hint = flag?.[1]?.includes('i') ? ` (a flag is not written inside a JavaScript regular expression: for ${flag[0]}, write ignore_case: true)` : '';
        ctx.addIssue({ code: 'custom', path: ['matches'], message: `not a regular expression driftlock can use: ${(err as Error).message}${hint}` });
      }
    }
  });

export const filterConfig = z
  .object({
    include: z.array(condition).min(1).optional().describe('Only events that match these conditions pass (all of them, or any: `include_mode`).'),
    include_mode: z.enum(['all', 'any']).default('all').describe('`all`: an event must match every `include` condition; `any`: one is enough.'),
    exclude: z.array(condition).default([]).describe('Events that match any of these conditions are dropped.'),
    min_severity: z.enum(SEVERITY_NAMES).optional().describe('Events of a lower severity are dropped; events without a severity pass.'),
  })
  .superRefine((c, ctx) => {
    if (c.include === undefined && c.exclude.length === 0 && c.min_severity === undefined) {
      ctx.addIssue({ code: 'custom', message: 'a filter needs `include`, `exclude` or `min_severity`: as it is, it passes every event' });
    }
  });

export type FilterConfig = z.output<typeof filterConfig>;

/** Why `field` names no field of any event, with the path meant, or undefined. */
function fieldProblem(field: string): string | undefined {
  if (field === 'severity' || field === 'body') return undefined;
  if (isFieldPath(field)) return undefined;
  return `"${field}" names no field of an event: write body, severity, or a path starting with ${FIELD_ROOTS.map((r) => `${r}.`).join(', ')} (e.g. ${fieldPathMeant(field, true)})`;
}
type Condition = z.output<typeof condition>;

/** The event's severity number: its own, or read from its severity text. */
function severityOf(event: LogEvent): number | undefined {
  return event.severityNumber ?? (event.severityText === undefined ? undefined : severityNumberFromText(event.severityText));
}

/** The severity's name (`ERROR`), as a condition on `severity` compares it; the text as written if it has no number. */
function severityText(event: LogEvent): string | undefined {
  const n = severityOf(event);
  return n === undefined || n < 1 ? event.severityText : severityName(n);
}

function asText(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** The body as text, worked out once an event however many conditions read it (an object body is JSON). */
type BodyText = (event: LogEvent) => string;

/**
 * A number written as text, as `equals: 500` takes it: decimal digits, a sign and a fraction. Not what
 * `Number()` also reads (`"5e2"`, `"0x1F4"`, `" 500 "`, `"0b111110100"`): a status of `"5e2"` is not 500.
 */
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

/** A condition as a test of one event. */
function compile(c: Condition, body: BodyText): (event: LogEvent) => boolean {
  const fold = c.ignore_case ? (s: string) => s.toLowerCase() : (s: string) => s;
  const present = (v: unknown) => v !== undefined && v !== null;
  const valueOf: (event: LogEvent) => unknown = c.field === 'severity' ? severityText : c.field === 'body' ? body : compileField(c.field);
  if (c.exists !== undefined) {
    const want = c.exists;
    return (e) => present(valueOf(e)) === want;
  }
  if (c.matches !== undefined) {
    const re = compileUserRegex(c.matches, { ignoreCase: c.ignore_case });
    return (e) => {
      const v = valueOf(e);
      return present(v) && re.test(asText(v));
    };
  }
  if (c.contains !== undefined) {
    const part = fold(c.contains);
    return (e) => {
      const v = valueOf(e);
      return present(v) && fold(asText(v)).includes(part);
    };
  }
  const want = c.equals!;
  if (typeof want === 'number') {
    return (e) => {
      const v = valueOf(e);
      return typeof v === 'number' ? v === want : typeof v === 'string' && DECIMAL.test(v) && Number(v) === want;
    };
  }
  if (typeof want === 'boolean') {
    return (e) => {
      const v = valueOf(e);
      return v === want || v === String(want);
    };
  }
  if (c.field === 'severity') {
    // Severities are compared by name whatever their case or spelling: `error`, `err` and `ERROR` are one.
    const n = severityNumberFromText(want);
    const name = (n === undefined ? want : severityName(n)).toLowerCase();
    return (e) => {
      const v = severityText(e);
      return v !== undefined && v.toLowerCase() === name;
    };
  }
  const text = fold(want);
  return (e) => {
    const v = valueOf(e);
    return present(v) && typeof v !== 'object' && fold(String(v)) === text;
  };
}

export const filterTransform = defineTransform({
  type: 'filter',
  description:
    'Drops events by conditions on their fields (as Fluent Bit\'s `grep` and Vector\'s `filter`): only those that match `include`, none of `exclude`, and are not below `min_severity` pass. Dropped events are counted in `filtered_events_total` and acknowledged as delivered.',
  config: filterConfig,
  example: {
    type: 'filter',
    inputs: ['parse_access'],
    exclude: [
      { field: 'body.request', matches: '^GET /(healthz|readyz)' },
      { field: 'body.http_user_agent', contains: 'kube-probe' },
    ],
  },
  build(config, ctx) {
    let textOf: LogEvent | undefined;
    let text = '';
    const body: BodyText = (e) => {
      if (e !== textOf) {
        text = bodyText(e);
        textOf = e;
      }
      return text;
    };
    const include = (config.include ?? []).map((c) => compile(c, body));
    const exclude = config.exclude.map((c) => compile(c, body));
    const any = config.include_mode === 'any';
    const floor = config.min_severity === undefined ? undefined : severityFloor(config.min_severity);
    const passes = (e: LogEvent): boolean => {
      if (include.length > 0 && !(any ? include.some((t) => t(e)) : include.every((t) => t(e)))) return false;
      for (const t of exclude) if (t(e)) return false;
      if (floor !== undefined) {
        const n = severityOf(e);
        if (n !== undefined && n >= 1 && n < floor) return false;
      }
      return true;
    };
    ctx.metrics?.declare('filtered_events_total');
    return {
      map(events) {
        const kept = events.filter(passes);
        textOf = undefined; // the next batch may bring the same event objects back, changed
        text = '';
        if (kept.length < events.length) ctx.metrics?.add('filtered_events_total', events.length - kept.length);
        return kept;
      },
    };
  },
});
