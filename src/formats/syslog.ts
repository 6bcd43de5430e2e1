/**
 * Syslog lines: RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG`) and RFC 3164 / BSD
 * (`<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG`, the colon sometimes missing), including the files syslog daemons
 * write (no PRI; sometimes no hostname; rsyslog's ISO timestamps instead of `Mmm dd`). Pure, so network inputs
 * can reuse it.
 */
import { setOwn, severityNumberFromText, type LogEvent } from '../engine/event.js';
import { failure, impossibleIsoDay, localMs, shapeOf, shownName, stripLineEnd, typeName, validDateTime, type ParseResult } from './json.js';
import { MONTHS } from './nginx.js';

export const SYSLOG_FACILITIES: readonly string[] = [
  'kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp',
  'ntp', 'security', 'console', 'solaris-cron', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5',
  'local6', 'local7',
];
export const SYSLOG_SEVERITIES: readonly string[] = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'];

export type StructuredData = Record<string, Record<string, string>>;

export interface SyslogMessage {
  protocol: 'rfc5424' | 'rfc3164';
  /** Facility and severity come from PRI; undefined when the line has none (syslog files). */
  facility: number | undefined;
  facility_name: string | undefined;
  severity: number | undefined;
  severity_name: string | undefined;
  /** RFC 5424 VERSION. */
  version: number | undefined;
  /** Epoch ms. RFC 3164 times have no zone or year: local time, in the year that keeps them out of the future. */
  timestamp: number | undefined;
  hostname: string | undefined;
  appname: string | undefined;
  procid: string | undefined;
  msgid: string | undefined;
  structured_data: StructuredData | undefined;
  message: string;
}

const DAY_MS = 86_400_000;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|z|[+-]\d{2}:\d{2})$/;
// Sticky, so they match at an offset without slicing the line.
const BSD_TIME = /([A-Za-z]{3}) {1,2}(\d{1,2}) (?:(\d{4}) )?(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?= |$)/y;
const ISO_TIME = /(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|z|[+-]\d{2}:?\d{2})?)(?= |$)/y;
const SD_UNESCAPE = /\\(["\\\]])/g;
const HEADER_FIELDS = ['TIMESTAMP', 'HOSTNAME', 'APP-NAME', 'PROCID', 'MSGID'] as const;

function newMessage(protocol: SyslogMessage['protocol'], pri: number | undefined): SyslogMessage {
  return {
    protocol,
    facility: pri === undefined ? undefined : pri >> 3,
    facility_name: pri === undefined ? undefined : SYSLOG_FACILITIES[pri >> 3],
    severity: pri === undefined ? undefined : pri & 7,
    severity_name: pri === undefined ? undefined : SYSLOG_SEVERITIES[pri & 7],
    version: undefined,
    timestamp: undefined,
    hostname: undefined,
    appname: undefined,
    procid: undefined,
    msgid: undefined,
    structured_data: undefined,
    message: '',
  };
}

/**
 * Parses one syslog line (RFC 5424 or RFC 3164). `now` (epoch ms) decides the year of RFC 3164 timestamps:
 * the current one, or the previous one when that would put the time more than a day in the future.
 */
export function parseSyslog(line: string, now: number = Date.now()): ParseResult<SyslogMessage> {
  if (typeof line !== 'string') return failure(`expected a string, got ${typeName(line)}`);
  const text = stripLineEnd(line);
  if (text.length === 0) return failure('empty line');
  let pri: number | undefined;
  let p = 0;
  if (text.charCodeAt(0) === 60 /* < */) {
    const close = text.indexOf('>', 1);
    const digits = close === -1 ? '' : text.slice(1, close);
    if (digits.length < 1 || digits.length > 3 || !isDigits(digits)) return failure('invalid PRI: expected <0> to <191> at the start');
    pri = Number(digits);
    if (pri > 191) return failure(`invalid PRI <${digits}>: the highest is 191`);
    p = close + 1;
    // A PRI and nothing else (or only blanks) made an event with an empty body and no mark: nothing was sent
    // but a priority.
    let rest = p;
    while (rest < text.length && (text.charCodeAt(rest) === 32 || text.charCodeAt(rest) === 9)) rest++;
    if (rest === text.length) return failure(`nothing after <${digits}>: no header and no message`);
  }
  // RFC 5424 puts VERSION (digits, then a space) right after PRI; RFC 3164 puts a time there.
  let v = p;
  while (v < text.length && v - p < 3 && isDigit(text.charCodeAt(v))) v++;
  if (pri !== undefined && v > p && text.charCodeAt(v) === 32) return parse5424(text, pri, p, v);
  return parse3164(text, pri, p, now);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isDigits(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (!isDigit(s.charCodeAt(i))) return false;
  return s.length > 0;
}

function parse5424(text: string, pri: number, versionStart: number, versionEnd: number): ParseResult<SyslogMessage> {
  const out = newMessage('rfc5424', pri);
  out.version = Number(text.slice(versionStart, versionEnd));
  let p = versionEnd + 1;
  const values: (string | undefined)[] = [];
  for (const name of HEADER_FIELDS) {
    const end = text.indexOf(' ', p);
    if (end === -1) return failure(`truncated RFC 5424 header: missing ${name === 'MSGID' ? 'STRUCTURED-DATA' : 'fields'} after ${name}`);
    if (end === p) return failure(`empty ${name} at position ${p}: RFC 5424 writes '-' for a missing field`);
    const token = text.slice(p, end);
    values.push(token === '-' ? undefined : token);
    p = end + 1;
  }
  const [time, hostname, appname, procid, msgid] = values;
  if (time !== undefined) {
    const ms = RFC3339.test(time) && !impossibleIsoDay(time) ? Date.parse(time) : NaN;
    if (Number.isNaN(ms)) return failure(`invalid RFC 5424 timestamp (${shapeOf(time)})`);
    out.timestamp = ms;
  }
  out.hostname = hostname;
  out.appname = appname;
  out.procid = procid;
  out.msgid = msgid;

  if (text.charCodeAt(p) === 45 /* - */) {
    p++;
  } else if (text.charCodeAt(p) === 91 /* [ */) {
    const sd: StructuredData = {};
    const end = parseStructuredData(text, p, sd);
    if (typeof end === 'string') return failure(end);
    out.structured_data = sd;
    p = end;
  } else {
    return failure(`expected STRUCTURED-DATA ('-' or '[') at position ${p}`);
  }
  if (p < text.length) {
    if (text.charCodeAt(p) !== 32) return failure(`expected a space after STRUCTURED-DATA at position ${p}`);
    p++;
    if (text.charCodeAt(p) === 0xfeff) p++; // RFC 5424 marks UTF-8 messages with a BOM
    out.message = text.slice(p);
  }
  return { ok: true, value: out };
}

/** Reads `[id k="v" ...][id2 ...]` from `p` into `sd`. Returns the index after the last `]`, or an error message. */
function parseStructuredData(text: string, p: number, sd: StructuredData): number | string {
  const n = text.length;
  while (p < n && text.charCodeAt(p) === 91) {
    let i = p + 1;
    while (i < n && !isSdDelimiter(text.charCodeAt(i))) i++;
    if (i === p + 1) return `empty SD-ID at position ${i}`;
    const id = text.slice(p + 1, i);
    const params: Record<string, string> = Object.hasOwn(sd, id) ? sd[id]! : {};
    while (text.charCodeAt(i) === 32) {
      const nameStart = ++i;
      while (i < n && !isSdDelimiter(text.charCodeAt(i))) i++;
      if (i === nameStart) return `empty PARAM-NAME in [${shownName(id)}] at position ${i}`;
      if (text.charCodeAt(i) !== 61 || text.charCodeAt(i + 1) !== 34) return `expected '="' after PARAM-NAME in [${shownName(id)}] at position ${i}`;
      const name = text.slice(nameStart, i);
      const valueStart = i + 2;
      let escaped = false;
      let j = valueStart;
      for (; j < n; j++) {
        const c = text.charCodeAt(j);
        if (c === 92) {
          escaped = true;
          j++;
        } else if (c === 34) {
          break;
        }
      }
      if (j >= n) return `unterminated PARAM-VALUE for ${shownName(`${id}.${name}`)}`;
      const raw = text.slice(valueStart, j);
      setOwn(params, name, escaped ? raw.replace(SD_UNESCAPE, '$1') : raw);
      i = j + 1;
    }
    if (text.charCodeAt(i) !== 93) return `expected ']' to close [${shownName(id)}] at position ${i}`;
    setOwn(sd, id, params);
    p = i + 1;
  }
  return p;
}

/** SD-NAME ends at '=', ' ', ']' or '"' (RFC 5424 section 6.3.2), or at the end of the line. */
function isSdDelimiter(c: number): boolean {
  return c === 61 || c === 32 || c === 93 || c === 34;
}

function parse3164(text: string, pri: number | undefined, start: number, now: number): ParseResult<SyslogMessage> {
  const out = newMessage('rfc3164', pri);
  const n = text.length;
  let p = start;
  BSD_TIME.lastIndex = p;
  const bsd = BSD_TIME.exec(text);
  if (bsd) {
    const ms = bsdTime(bsd, now);
    if (ms === undefined) return failure(`invalid timestamp '${bsd[0]}'`);
    out.timestamp = ms;
    p += bsd[0].length;
  } else {
    ISO_TIME.lastIndex = p;
    const iso = ISO_TIME.exec(text);
    if (iso) {
      const ms = impossibleIsoDay(iso[1]!) ? NaN : Date.parse(iso[1]!);
      if (Number.isNaN(ms)) return failure(`invalid timestamp '${iso[1]}'`);
      out.timestamp = ms;
      p += iso[0].length;
    } else if (pri === undefined) {
      return failure('not a syslog line: expected <PRI>, or a timestamp such as "Jun 14 15:16:01", at the start');
    }
  }
  while (p < n && text.charCodeAt(p) === 32) p++;

  if (out.timestamp !== undefined) {
    // A hostname follows the time, unless the next word is already the tag (`sshd[42]:`, `kernel:`).
    const end = wordEnd(text, p);
    if (end > p && !looksLikeTag(text, p, end)) {
      out.hostname = text.slice(p, end);
      // One space, as rsyslog reads it: after two, the tag is empty and the rest is the message.
      p = end < n ? end + 1 : end;
    }
    // After the header, the first word is the tag, with or without a colon after it (`su[123] 'su root'
    // failed`). Nothing in the line tells a tag without a colon from a message's first word; rsyslog takes
    // it as the tag, and so does this.
    p = readTag(text, p, out);
  } else {
    // PRI and no time: too little of a header to take a plain first word as the tag (rsyslog would, and
    // read a hostname before it too); only a word that looks like one (`app:`, `app[1]:`) is.
    const end = wordEnd(text, p);
    if (end > p && looksLikeTag(text, p, end)) p = readTag(text, p, out);
  }
  out.message = text.slice(p);
  return { ok: true, value: out };
}

/**
 * Reads the tag at `p` as rsyslog does (its RFC 3164 parser, then its programname and procid): the tag runs
 * to the first space or colon, a colon included; the app name is the tag up to its first `[` or `:`, and the
 * process id what stands between that `[` and the next `]` in the tag. Unlike rsyslog's default, a `/` does
 * not end the app name (`postfix/smtpd` stays whole, as rsyslog's parser.permitSlashInProgramName keeps it).
 * Returns where the message starts: after the tag and the space that follows it.
 */
function readTag(text: string, p: number, out: SyslogMessage): number {
  const n = text.length;
  let end = p;
  while (end < n && text.charCodeAt(end) !== 32 && text.charCodeAt(end) !== 58 /* : */) end++;
  let nameEnd = end;
  const open = text.indexOf('[', p);
  if (open !== -1 && open < end) {
    nameEnd = open;
    const close = text.indexOf(']', open);
    if (close !== -1 && close < end && close > open + 1) out.procid = text.slice(open + 1, close);
  }
  if (nameEnd > p) out.appname = text.slice(p, nameEnd);
  if (end < n && text.charCodeAt(end) === 58) end++;
  return end < n && text.charCodeAt(end) === 32 ? end + 1 : end;
}

function wordEnd(text: string, p: number): number {
  const space = text.indexOf(' ', p);
  return space === -1 ? text.length : space;
}

/** `name:`, `name[pid]:` or `name[pid]`; the name must be non-empty. */
function looksLikeTag(text: string, start: number, end: number): boolean {
  let last = text.charCodeAt(end - 1);
  if (last === 58) {
    if (end - 1 <= start) return false;
    if (text.charCodeAt(end - 2) !== 93) return !text.slice(start, end - 1).includes('[');
    last = 93;
    end--;
  }
  if (last !== 93) return false;
  const open = text.lastIndexOf('[', end - 1);
  return open > start;
}

function bsdTime(m: RegExpExecArray, now: number): number | undefined {
  const month = MONTHS[m[1]!.toLowerCase()];
  const day = Number(m[2]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = Number(m[6]);
  // Without a year, February 29 is allowed (the year is chosen below).
  if (!validDateTime(m[3] ? Number(m[3]) : 2000, month, day, hour, minute, second)) return undefined;
  const ms = m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0;
  if (m[3]) return localMs(Number(m[3]), month, day, hour, minute, second, ms);
  const year = new Date(now).getFullYear();
  const time = localMs(year, month, day, hour, minute, second, ms);
  return time > now + DAY_MS ? localMs(year - 1, month, day, hour, minute, second, ms) : time;
}

/**
 * Puts a parsed message on an event, the same for the `syslog` input and the `parse` transform: the message
 * becomes the body, its time the event's, and the header goes into `syslog.*` attributes. Severities map as
 * emerg 23, alert 22, crit 21 (FATAL), err 17, warning 13, notice 10, info 9, debug 5.
 */
export function applySyslogMessage(event: LogEvent, m: SyslogMessage): void {
  const attributes = event.attributes;
  event.body = m.message;
  if (m.timestamp !== undefined) event.timestamp = m.timestamp;
  attributes['syslog.protocol'] = m.protocol;
  if (m.facility !== undefined) {
    attributes['syslog.facility'] = m.facility;
    if (m.facility_name !== undefined) attributes['syslog.facility_name'] = m.facility_name;
  }
  if (m.severity !== undefined && m.severity_name !== undefined) {
    attributes['syslog.severity'] = m.severity;
    event.severityText = m.severity_name;
    const number = severityNumberFromText(m.severity_name);
    if (number !== undefined) event.severityNumber = number;
  }
  if (m.hostname !== undefined) attributes['syslog.hostname'] = m.hostname;
  if (m.appname !== undefined) attributes['syslog.appname'] = m.appname;
  if (m.procid !== undefined) attributes['syslog.procid'] = m.procid;
  if (m.msgid !== undefined) attributes['syslog.msgid'] = m.msgid;
  if (m.structured_data !== undefined) attributes['syslog.structured_data'] = m.structured_data;
}
