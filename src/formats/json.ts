/**
 * JSON lines, plus the pieces every line parser shares: the result convention and line-end handling.
 *
 * Parsers never throw on bad input: they return `{ ok: false, error }` with a short message that says what
 * is wrong, so a hot loop over 150k lines/s does not pay for exceptions and callers need no try/catch.
 */
import { maskSecrets, unmask } from '../detector/mask.js';
import { MAX_NESTING, MAX_TIME_MS, type Attributes } from '../engine/event.js';
import { printableLine, truncate } from '../printable.js';

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

/**
 * What a piece of the line is like, without its text: `7 characters: letters, digits`, `5 characters: digits, .`.
 * An error about a value that does not read (`$status is not a number`) says this rather than quote it: the error
 * goes to the daemon's log, and a line whose fields are shifted puts any of its text there, a password or a token,
 * which no masking knows without its key (as a JSON error quotes none of the line). Its punctuation is named (up to
 * eight marks), which tells most shifted fields apart (`"`, `-`, `/`).
 */
export function shapeOf(piece: string): string {
  if (piece === '') return 'empty';
  let letters = false;
  let digits = false;
  let spaces = false;
  let other = false;
  let marks = '';
  for (let i = 0; i < piece.length; i++) {
    const c = piece.charCodeAt(i);
    if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122)) letters = true;
    else if (c >= 48 && c <= 57) digits = true;
    else if (c === 32 || c === 9) spaces = true;
    else if (c > 32 && c < 127) {
      if (marks.length < 8 && !marks.includes(piece[i]!)) marks += piece[i];
    } else other = true;
  }
  const kinds = [letters && 'letters', digits && 'digits', spaces && 'spaces', other && 'other characters', ...marks].filter((k) => k !== false);
  return `${piece.length} character${piece.length === 1 ? '' : 's'}: ${kinds.join(', ')}`;
}

/**
 * A name read from the line (a logfmt key, a syslog SD-ID or PARAM-NAME) as an error quotes it: with the secrets
 * the detector masks shown `<secret>` (a token known by its form, a URL's password, `key=value`), so that it still
 * says which name, as the detector's own `why` does. Cut to 64 characters, control characters shown as `\x1b`:
 * a name runs to the next `=`, space, `]` or `"`, so it can be a whole 64 KiB frame, a line end or an escape
 * sequence, and the syslog input and the parse transform log the error.
 */
export function shownName(name: string): string {
  return printableLine(truncate(unmask(maskSecrets(name)), 64));
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

/**
 * The text of the line that V8 quotes in a JSON.parse error (`Unexpected token 'p', "password=h"... is not valid
 * JSON`: the whole of a short line, ten characters either side of the error in a long one). The error goes to the
 * daemon's own log (the parse transform's warning, a syslog input's) and to `parse.error`: the line's secrets did
 * too, none masked. The position-only messages (`... in JSON at position 23`) hold none.
 */
const QUOTED_SOURCE = /(?:, |^)(?:\.\.\.)?"[\s\S]*"(?:\.\.\.)? is not valid JSON$/;

/** A JSON.parse error's message without the text of the line it quotes: `Unexpected token 'p'`. */
export function withoutSource(message: string): string {
  return message.replace(QUOTED_SOURCE, '') || 'not JSON';
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
    return failure(text.trim() === '' ? 'empty line' : `invalid JSON: ${withoutSource((err as Error).message)}`);
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
  // Up to the latest time a Date holds: beyond it, no date (a number too large for any epoch unit).
  return ms >= YEAR_2000_MS && ms <= MAX_TIME_MS ? ms : undefined;
}

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Days in a month (0-based) of a proleptic Gregorian year; 31 for a month out of range (checked elsewhere). */
export function daysInMonth(year: number, month: number): number {
  if (month === 1) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return MONTH_DAYS[month] ?? 31;
}

/**
 * Whether a date and a time of day exist: a day its month has (February 29 only in a leap year), hours to 23,
 * minutes to 59, seconds to 60 (a leap second). `month` is 0-based; undefined (a name not known) does not.
 */
export function validDateTime(year: number, month: number | undefined, day: number, hour: number, minute: number, second: number): month is number {
  return month !== undefined && month >= 0 && month <= 11 && day >= 1 && day <= daysInMonth(year, month) && hour <= 23 && minute <= 59 && second <= 60;
}

/**
 * Whether text starting `yyyy-mm-dd` names a day its month does not have (`2025-02-30`, `2025-04-31`):
 * Date.parse and Date.UTC roll those over into the next month instead of refusing them.
 */
export function impossibleIsoDay(text: string): boolean {
  return Number(text.slice(8, 10)) > daysInMonth(Number(text.slice(0, 4)), Number(text.slice(5, 7)) - 1);
}

/**
 * Date.UTC for any year: Date.UTC and the Date constructor read years 0 to 99 as 1900 to 1999, so a line
 * stamped `0050-06-01` would be put in 1950 (and `0000-02-29`, valid, rolled to March as 1900 has none).
 */
export function utcMs(year: number, month: number, day: number, hour = 0, minute = 0, second = 0, ms = 0): number {
  if (year < 0 || year > 99) return Date.UTC(year, month, day, hour, minute, second, ms);
  const d = new Date(0);
  d.setUTCFullYear(year, month, day);
  d.setUTCHours(hour, minute, second, ms);
  return d.getTime();
}

/** The same in local time (`new Date(year, ...)`, which has the same two-digit-year rule). */
export function localMs(year: number, month: number, day: number, hour = 0, minute = 0, second = 0, ms = 0): number {
  if (year < 0 || year > 99) return new Date(year, month, day, hour, minute, second, ms).getTime();
  const d = new Date(2000, 0, 1);
  d.setFullYear(year, month, day);
  d.setHours(hour, minute, second, ms);
  return d.getTime();
}

/** The digit at `i`, or -1. */
function digit(s: string, i: number): number {
  const c = s.charCodeAt(i) - 48;
  return c >= 0 && c <= 9 ? c : -1;
}

function twoDigits(s: string, i: number): number {
  const a = digit(s, i);
  const b = digit(s, i + 1);
  return a < 0 || b < 0 ? -1 : a * 10 + b;
}

/**
 * The timestamp shape most logs write, `2025-01-01T12:00:00.123Z` (or `+02:00`), read by hand: a third of the
 * cost of the regular expression and Date.parse, once per event. It takes only values whose every part is
 * in range (days up to 28, no leap second), where it gives exactly what Date.parse does (fractions beyond
 * milliseconds are cut, not rounded); anything else is undefined and goes the general way.
 */
function utcIsoFast(v: string): number | undefined {
  const n = v.length;
  if (n < 20 || n > 35 || v.charCodeAt(4) !== 45 || v.charCodeAt(7) !== 45 || v.charCodeAt(10) !== 84 || v.charCodeAt(13) !== 58 || v.charCodeAt(16) !== 58) return undefined;
  const y1 = twoDigits(v, 0);
  const y2 = twoDigits(v, 2);
  const month = twoDigits(v, 5);
  const day = twoDigits(v, 8);
  const hour = twoDigits(v, 11);
  const minute = twoDigits(v, 14);
  const second = twoDigits(v, 17);
  if (y1 < 10 || y2 < 0 || month < 1 || month > 12 || day < 1 || day > 28 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return undefined;
  let i = 19;
  let ms = 0;
  if (v.charCodeAt(i) === 46) {
    // 1 to 9 digits; the first three are the milliseconds.
    const start = ++i;
    while (i < n && i - start < 9) {
      const d = v.charCodeAt(i) - 48;
      if (!(d >= 0 && d <= 9)) break;
      const k = i - start;
      if (k < 3) ms += d * (k === 0 ? 100 : k === 1 ? 10 : 1);
      i++;
    }
    if (i === start) return undefined;
  }
  let offset = 0;
  const zone = v.charCodeAt(i);
  if (zone === 90 && i + 1 === n) {
    // Z
  } else if ((zone === 43 || zone === 45) && i + 6 === n && v.charCodeAt(i + 3) === 58) {
    const oh = twoDigits(v, i + 1);
    const om = twoDigits(v, i + 4);
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return undefined;
    offset = (zone === 43 ? 1 : -1) * (oh * 60 + om) * 60_000;
  } else {
    return undefined;
  }
  return (daysFromCivil(y1 * 100 + y2, month, day) * 86_400 + hour * 3600 + minute * 60 + second) * 1000 + ms - offset;
}

/**
 * Days from 1970-01-01 to a date of the proleptic Gregorian calendar (`month` 1-12), for the years
 * `utcIsoFast` takes (1000-9999): what Date.UTC counts, in plain arithmetic. Date.UTC is a call into the
 * runtime that cost half of `utcIsoFast` (some 70 ns), once per event.
 */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  return era * 146_097 + yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear - 719_468;
}

/**
 * A timestamp field's value to epoch ms: an ISO 8601 string (no offset means local time, as Date.parse
 * does), or an epoch number or numeric string. Anything else is undefined.
 */
export function parseTimestamp(value: unknown): number | undefined {
  if (typeof value === 'number') return epochToMs(value);
  if (typeof value !== 'string') return undefined;
  const fast = utcIsoFast(value);
  if (fast !== undefined) return fast;
  if (ISO_DATE.test(value)) {
    if (impossibleIsoDay(value)) return undefined;
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
