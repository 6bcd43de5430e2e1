/**
 * nginx access lines, in the "combined" format (also Apache's `%h %l %u %t "%r" %>s %b "%{Referer}i"
 * "%{User-agent}i"`, and the shorter "common" format without referer and user agent) or as JSON objects.
 *
 * Output keys are nginx variable names. In quoted fields `\"` and `\\` are unescaped (Apache writes them);
 * nginx's own `\xHH` escapes are kept as written, since decoding them byte by byte would garble UTF-8.
 */
import type { AttributeValue, Attributes } from '../engine/event.js';
import { failure, parseJson, parseTimestamp, shapeOf, stripLineEnd, typeName, utcMs, validDateTime, type ParseResult } from './json.js';

export interface NginxAccess {
  record: Attributes;
  /** Epoch ms from `time_local` or a JSON time field; undefined when absent or unreadable. */
  timestamp: number | undefined;
}

/** English month abbreviations, lower case, to a 0-based month: shared by the parsers that read dates. */
export const MONTHS: Record<string, number> = {
  jan: 0, feb: 1, mar: 2, apr: 3, may: 4, jun: 5, jul: 6, aug: 7, sep: 8, oct: 9, nov: 10, dec: 11,
};
const TIME_LOCAL = /^(\d{1,2})\/([A-Za-z]{3})\/(\d{4}):(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))? ([+-])(\d{2}):?(\d{2})$/;
const UNESCAPE = /\\(["\\])/g;
const INTEGER = /^\d+$/;
const DECIMAL = /^\d+(?:\.\d+)?$/;
const METHOD = /^[A-Z][A-Z_-]*$/;

/** Parses nginx's `$time_local` / Apache's `%t`: `10/Oct/2000:13:55:36 -0700`, to epoch ms. */
export function parseTimeLocal(text: string): number | undefined {
  const m = TIME_LOCAL.exec(text);
  if (!m) return undefined;
  const month = MONTHS[m[2]!.toLowerCase()];
  const day = Number(m[1]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = Number(m[6]);
  const year = Number(m[3]);
  if (!validDateTime(year, month, day, hour, minute, second)) return undefined;
  const fraction = m[7] ? Number(`0.${m[7]}`) * 1000 : 0;
  const offset = (Number(m[9]) * 60 + Number(m[10])) * 60_000 * (m[8] === '-' ? -1 : 1);
  return utcMs(year, month, day, hour, minute, second) + fraction - offset;
}

// Set by readQuoted: the index just after the closing quote. A module variable avoids an allocation per field.
let quoteEnd = 0;

/** Reads the quoted field whose opening quote is at `open`; undefined when the quote is never closed. */
function readQuoted(text: string, open: number): string | undefined {
  let close = text.indexOf('"', open + 1);
  while (close !== -1) {
    let backslashes = 0;
    for (let i = close - 1; i > open && text.charCodeAt(i) === 92; i--) backslashes++;
    if ((backslashes & 1) === 0) break;
    close = text.indexOf('"', close + 1);
  }
  if (close === -1) return undefined;
  quoteEnd = close + 1;
  const raw = text.slice(open + 1, close);
  return raw.includes('\\') ? raw.replace(UNESCAPE, '$1') : raw;
}

/**
 * Splits `GET /path?a=1 HTTP/1.1` into `method`, `path` (nginx's `$uri`, without the query), `query`
 * (`$args`, without the `?`; only when there is a `?`) and `protocol`. The target may hold spaces
 * (malformed requests do). Path and query are apart because they vary apart: a new page is a new path, a
 * payload in a parameter is new text in the query, not diluted by a long familiar path.
 */
function splitRequest(request: string, record: Attributes): void {
  const first = request.indexOf(' ');
  if (first <= 0) return;
  const method = request.slice(0, first);
  if (!METHOD.test(method)) return;
  const last = request.lastIndexOf(' ');
  record.method = method;
  let target: string;
  if (last > first && request.startsWith('HTTP/', last + 1)) {
    target = request.slice(first + 1, last);
    record.protocol = request.slice(last + 1);
  } else {
    target = request.slice(first + 1);
  }
  const q = target.indexOf('?');
  if (q === -1) record.path = target;
  else {
    record.path = target.slice(0, q);
    // A JSON line may carry a `query` of its own (`"query":"$args"`): it is kept.
    if (record.query === undefined) record.query = target.slice(q + 1);
  }
}

/** Whatever follows the standard fields: a leading number is `request_time`, the rest is kept as `extra`. */
function readTail(tail: string, record: Attributes): void {
  const rest = tail.trim();
  if (rest === '') return;
  const space = rest.indexOf(' ');
  const first = space === -1 ? rest : rest.slice(0, space);
  if (DECIMAL.test(first)) {
    record.request_time = Number(first);
    if (space !== -1) record.extra = rest.slice(space + 1).trimStart();
  } else {
    record.extra = rest;
  }
}

const FORMAT_HINT = 'expected $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent';

function parseCombined(text: string): ParseResult<NginxAccess> {
  let p = text.indexOf(' ');
  if (p <= 0) return failure(`not an access log line: ${FORMAT_HINT}`);
  const remoteAddr = text.slice(0, p);
  const identEnd = text.indexOf(' ', p + 1);
  if (identEnd === -1) return failure(`not an access log line: ${FORMAT_HINT}`);
  const ident = text.slice(p + 1, identEnd);
  // Up to " [" rather than the next space: a user name may hold spaces.
  const open = text.indexOf(' [', identEnd);
  if (open === -1) return failure(`no [$time_local] found: ${FORMAT_HINT}`);
  const remoteUser = text.slice(identEnd + 1, open);
  const close = text.indexOf(']', open + 2);
  if (close === -1) return failure('unterminated [$time_local]');
  const timeLocal = text.slice(open + 2, close);
  if (text.charCodeAt(close + 1) !== 32 || text.charCodeAt(close + 2) !== 34) {
    return failure(`expected ' "' after [$time_local] at position ${close + 1}`);
  }
  const request = readQuoted(text, close + 2);
  if (request === undefined) return failure('unterminated quoted $request');
  p = quoteEnd;
  if (text.charCodeAt(p) !== 32) return failure(`expected a space after "$request" at position ${p}`);
  const statusEnd = text.indexOf(' ', p + 1);
  const statusText = text.slice(p + 1, statusEnd === -1 ? text.length : statusEnd);
  if (!INTEGER.test(statusText)) return failure(`$status is not a number (${shapeOf(statusText)})`);
  if (statusEnd === -1) return failure('missing $body_bytes_sent after $status');
  const bytesEnd = text.indexOf(' ', statusEnd + 1);
  const bytesText = text.slice(statusEnd + 1, bytesEnd === -1 ? text.length : bytesEnd);
  // Apache's %b writes "-" for zero bytes.
  if (bytesText !== '-' && !INTEGER.test(bytesText)) return failure(`$body_bytes_sent is not a number (${shapeOf(bytesText)})`);

  const record: Attributes = { remote_addr: remoteAddr };
  if (ident !== '-') record.remote_ident = ident;
  if (remoteUser !== '-' && remoteUser !== '') record.remote_user = remoteUser;
  record.time_local = timeLocal;
  record.request = request;
  splitRequest(request, record);
  record.status = Number(statusText);
  record.body_bytes_sent = bytesText === '-' ? 0 : Number(bytesText);

  p = bytesEnd;
  if (p !== -1 && text.charCodeAt(p + 1) === 34) {
    const referer = readQuoted(text, p + 1);
    if (referer === undefined) return failure('unterminated quoted $http_referer');
    record.http_referer = referer;
    p = quoteEnd;
    if (text.charCodeAt(p) === 32 && text.charCodeAt(p + 1) === 34) {
      const agent = readQuoted(text, p + 1);
      // A line cut short by the writer's size limit loses the closing quote of its last field: keep the rest.
      record.http_user_agent = agent ?? text.slice(p + 2);
      p = agent === undefined ? text.length : quoteEnd;
    }
  }
  if (p !== -1 && p < text.length) readTail(text.slice(p), record);
  return { ok: true, value: { record, timestamp: parseTimeLocal(timeLocal) } };
}

const JSON_TIME_FIELDS = ['timestamp', 'time', '@timestamp', 'time_local', 'time_iso8601', 'msec'];
const JSON_NUMERIC_FIELDS = ['status', 'body_bytes_sent', 'request_time'];

function timeFromJson(record: Attributes): number | undefined {
  for (const key of JSON_TIME_FIELDS) {
    const value: AttributeValue | undefined = record[key];
    if (value === undefined || value === null) continue;
    const ms = parseTimestamp(value) ?? (typeof value === 'string' ? parseTimeLocal(value) : undefined);
    if (ms !== undefined) return ms;
  }
  return undefined;
}

/** JSON access lines: numeric strings (from `"status":"$status"`) become numbers, so both shapes match. */
function parseNginxJson(text: string): ParseResult<NginxAccess> {
  const parsed = parseJson(text);
  if (!parsed.ok) return parsed;
  const record = parsed.value;
  for (const key of JSON_NUMERIC_FIELDS) {
    const value = record[key];
    if (typeof value === 'string' && DECIMAL.test(value)) record[key] = Number(value);
  }
  if (record.remote_user === '-' || record.remote_user === '') delete record.remote_user;
  if (typeof record.request === 'string' && record.method === undefined && record.path === undefined) {
    splitRequest(record.request, record);
  }
  return { ok: true, value: { record, timestamp: timeFromJson(record) } };
}

/** Parses one access line: combined/common format, or a JSON object when the line starts with `{`. */
export function parseNginx(line: string): ParseResult<NginxAccess> {
  if (typeof line !== 'string') return failure(`expected a string, got ${typeName(line)}`);
  const text = stripLineEnd(line);
  let start = 0;
  while (start < text.length && (text.charCodeAt(start) === 32 || text.charCodeAt(start) === 9)) start++;
  if (start === text.length) return failure('empty line');
  if (text.charCodeAt(start) === 123) return parseNginxJson(text);
  return parseCombined(start === 0 ? text : text.slice(start));
}
