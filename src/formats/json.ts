/**
 * JSON lines, plus the pieces every line parser shares: the result convention and line-end handling.
 *
 * Parsers never throw on bad input: they return `{ ok: false, error }` with a short message that says what
 * is wrong, so a hot loop over 150k lines/s does not pay for exceptions and callers need no try/catch.
 */
import { MAX_NESTING, type Attributes } from '../engine/event.js';

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

const MAX_ERROR_LENGTH = 200;

export function failure(error: string): { ok: false; error: string } {
  return { ok: false, error: error.length > MAX_ERROR_LENGTH ? `${error.slice(0, MAX_ERROR_LENGTH)}...` : error };
}

/** Describes a value that is not a string, for "expected a string, got ..." errors from untyped callers. */
export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** Drops one trailing line end (`\n`, `\r\n` or `\r`): files written on Windows, or split on `\n` only. */
export function stripLineEnd(line: string): string {
  let end = line.length;
  if (end > 0 && line.charCodeAt(end - 1) === 10) end--;
  if (end > 0 && line.charCodeAt(end - 1) === 13) end--;
  return end === line.length ? line : line.slice(0, end);
}

/** Whether the text has brackets enough to nest deeper than MAX_NESTING (a cheap test before counting). */
function mayNestTooDeep(text: string): boolean {
  let n = 0;
  for (let i = text.indexOf('{'); i !== -1; i = text.indexOf('{', i + 1)) if (++n > MAX_NESTING) return true;
  for (let i = text.indexOf('['); i !== -1; i = text.indexOf('[', i + 1)) if (++n > MAX_NESTING) return true;
  return false;
}

/** The deepest nesting of objects and arrays in JSON text (brackets inside strings do not count). */
function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) deepest = Math.max(deepest, ++depth);
    else if (c === 125 || c === 93) depth--;
  }
  return deepest;
}

/** Parses one line holding a JSON object. Arrays, strings and other top-level values are errors. */
export function parseJson(line: string): ParseResult<Attributes> {
  if (typeof line !== 'string') return failure(`expected a string, got ${typeName(line)}`);
  const text = stripLineEnd(line);
  if (mayNestTooDeep(text) && nestingDepth(text) > MAX_NESTING) return failure(`JSON nested deeper than ${MAX_NESTING} levels`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return failure(text.trim() === '' ? 'empty line' : `invalid JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return failure(`expected a JSON object, found ${typeName(value)}`);
  }
  return { ok: true, value: value as Attributes };
}

// Date.parse accepts almost anything ("1" is 2001 in V8), so only hand it strings shaped like ISO 8601.
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|z|[+-]\d{2}(?::?\d{2})?)?)?$/;
const NUMERIC = /^\d+(?:\.\d+)?$/;
const HOUR_OFFSET = /[+-]\d{2}$/;

const YEAR_2000_MS = 946_684_800_000;

/**
 * Epoch seconds, milliseconds, microseconds or nanoseconds, told apart by magnitude, to epoch ms. Times
 * before 2000 are refused: a small number in a `time` field is far more often a duration than a date.
 */
export function epochToMs(n: number): number | undefined {
  if (!Number.isFinite(n)) return undefined;
  let ms: number;
  if (n < 1e11) ms = n * 1000; // seconds up to the year 5138
  else if (n < 1e14) ms = n;
  else if (n < 1e17) ms = n / 1e3;
  else ms = n / 1e6;
  return ms >= YEAR_2000_MS ? ms : undefined;
}

/**
 * A timestamp field's value to epoch ms: an ISO 8601 string (no offset means local time, as Date.parse
 * does), or an epoch number or numeric string. Anything else is undefined.
 */
export function parseTimestamp(value: unknown): number | undefined {
  if (typeof value === 'number') return epochToMs(value);
  if (typeof value !== 'string') return undefined;
  if (ISO_DATE.test(value)) {
    let iso = value;
    if (iso.length > 10 && iso.charCodeAt(10) === 32) iso = `${iso.slice(0, 10)}T${iso.slice(11)}`;
    if (iso.includes(',')) iso = iso.replace(',', '.');
    if (iso.length > 10 && HOUR_OFFSET.test(iso)) iso += ':00'; // V8 rejects `+02` without minutes
    const ms = Date.parse(iso);
    return Number.isNaN(ms) ? undefined : ms;
  }
  if (NUMERIC.test(value)) return epochToMs(Number(value));
  return undefined;
}
