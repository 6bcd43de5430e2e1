/**
 * logfmt (`level=info msg="user logged in" user_id=42 cached`), as written by Heroku, Go's log/slog text
 * handler, go-kit and logrus.
 *
 * Values stay strings, numbers included: logfmt has no types, and guessing would turn an id like `007` or
 * a version like `1.10` into a different value. A bare key (no `=`) is `true`; `key=` is the empty string.
 * Quoted values take the escapes Go's strconv.Quote writes (`\"`, `\\`, `\n`, `\t`, `\r`, `\uXXXX`).
 */
import { setOwn } from '../engine/event.js';
import { failure, shownName, stripLineEnd, typeName, type ParseResult } from './json.js';

export type LogfmtRecord = Record<string, string | true>;

const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', n: '\n', t: '\t', r: '\r', b: '\b', f: '\f' };
const HEX4 = /^[0-9a-fA-F]{4}$/;

/** Decodes the escapes of a quoted value between `start` and `end` (exclusive), joining slices, not chars. */
function unescape(text: string, start: number, end: number): string {
  const parts: string[] = [];
  let last = start;
  let i = text.indexOf('\\', start);
  while (i !== -1 && i < end - 1) {
    parts.push(text.slice(last, i));
    const next = text[i + 1]!;
    const simple = ESCAPES[next];
    if (simple !== undefined) {
      parts.push(simple);
      last = i + 2;
    } else if (next === 'u' && i + 6 <= end && HEX4.test(text.slice(i + 2, i + 6))) {
      parts.push(String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16)));
      last = i + 6;
    } else {
      parts.push(text.slice(i, i + 2)); // unknown escape: keep it as written
      last = i + 2;
    }
    i = text.indexOf('\\', last);
  }
  parts.push(text.slice(last, end));
  return parts.join('');
}

/**
 * Parses one logfmt line. A line without a single `key=value` pair is an error (it is prose, not logfmt), and
 * so is text over several lines (a line break outside a quoted value).
 */
export function parseLogfmt(line: string): ParseResult<LogfmtRecord> {
  if (typeof line !== 'string') return failure(`expected a string, got ${typeName(line)}`);
  const text = stripLineEnd(line);
  const n = text.length;
  const record: LogfmtRecord = {};
  let pairs = 0;
  let i = 0;
  while (true) {
    while (i < n && text.charCodeAt(i) <= 32) {
      // A record is one line (writers escape line breaks inside quoted values): text over several lines is
      // a stack trace or a Go panic joined by a multiline rule, whose words would become bare keys.
      if (text.charCodeAt(i) === 10) return failure(`line break at position ${i}: a logfmt record is one line`);
      i++;
    }
    if (i >= n) break;
    const keyStart = i;
    let c = text.charCodeAt(i);
    while (i < n && c > 32 && c !== 61 /* = */ && c !== 34 /* " */) c = text.charCodeAt(++i);
    if (i < n && c === 34) return failure(`unexpected '"' at position ${i}: keys cannot be quoted`);
    if (i === keyStart) return failure(`missing key before '=' at position ${i}`);
    const key = text.slice(keyStart, i);
    if (i >= n || c <= 32) {
      setOwn(record, key, true);
      continue;
    }
    i++; // past '='
    if (text.charCodeAt(i) === 34) {
      let close = text.indexOf('"', i + 1);
      while (close !== -1) {
        let backslashes = 0;
        for (let j = close - 1; j > i && text.charCodeAt(j) === 92; j--) backslashes++;
        if ((backslashes & 1) === 0) break;
        close = text.indexOf('"', close + 1);
      }
      if (close === -1) return failure(`unterminated quoted value for key '${shownName(key)}'`);
      const raw = text.slice(i + 1, close);
      setOwn(record, key, raw.includes('\\') ? unescape(text, i + 1, close) : raw);
      i = close + 1;
      if (i < n && text.charCodeAt(i) > 32) return failure(`expected a space after the quoted value of '${shownName(key)}' at position ${i}`);
    } else {
      const valueStart = i;
      while (i < n && text.charCodeAt(i) > 32) i++;
      setOwn(record, key, text.slice(valueStart, i));
    }
    pairs++;
  }
  if (pairs === 0) return failure(n === 0 || text.trim() === '' ? 'empty line' : 'no key=value pairs found');
  return { ok: true, value: record };
}
