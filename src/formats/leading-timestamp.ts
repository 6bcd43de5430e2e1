/**
 * Finds the time of a plain-text log line from the timestamp it starts with, for lines no parser has read
 * (`format: text`). Scanning a file after the fact then measures volume in the time the lines were
 * written, not the time they were read. Recognised at the start of the line (after an optional `[`):
 *
 * - ISO 8601 / RFC 3339, also with a space or `-` before the time and `,` before the fraction
 *   (`2024-05-01T12:00:00.123Z`, `2024-05-01 12:00:00,123`, `2005-06-03-15.42.50.675872`)
 * - epoch seconds or milliseconds (`1117838570 ...`)
 * - BSD syslog `Jun 14 15:16:01` (the year is taken from `referenceYear`)
 * - Apache error log `[Sun Dec 04 04:47:44 2005]`, and `Sun Dec 04 04:47:44 2005`
 * - compact `081109 203615` (yyMMdd HHmmss, as Hadoop writes it), and `17/06/09 20:10:40` (yy/MM/dd, as
 *   Spark's log4j default writes it)
 * - klog (Kubernetes components) `E1125 21:54:40.123456` and Android logcat `03-17 16:13:46.764` (the year
 *   is taken from `referenceYear`)
 * - anywhere in the first 120 characters: nginx/Apache `[10/Oct/2000:13:55:36 -0700]`
 *
 * Times without a zone are read as UTC: what matters to the detector is the spacing between lines.
 */
import { epochToMs, utcMs, validDateTime } from './json.js';
import { MONTHS, parseTimeLocal } from './nginx.js';

const ISO = /^(\d{4})[-.](\d{2})[-.](\d{2})[T -](\d{2})[:.](\d{2})[:.](\d{2})(?:[.,](\d{1,9}))?(Z|[+-]\d{2}(?::?\d{2})?)?/;
const EPOCH = /^(\d{10}|\d{13})(?:\.\d+)?(?=\s)/;
const BSD = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})\b/;
const CTIME = /^(?:[A-Z][a-z]{2} )([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d+)? (\d{4})\b/;
const COMPACT = /^(\d{2})(\d{2})(\d{2}) (\d{2})(\d{2})(\d{2})\b/;
const SLASHED = /^(\d{2})\/(\d{2})\/(\d{2}) (\d{2}):(\d{2}):(\d{2})\b/;
const KLOG = /^[IWEF](\d{2})(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{1,6})\s/;
const LOGCAT = /^(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{3})\s/;
const ACCESS = /\[(\d{1,2}\/[A-Za-z]{3}\/\d{4}:\d{2}:\d{2}:\d{2}(?:\.\d{1,6})? [+-]\d{2}:?\d{2})\]/;

function utc(year: number, month: number | undefined, day: number, h: number, m: number, s: number, ms = 0): number | undefined {
  // Date.UTC rolls an impossible day over (February 30 becomes March 1): refuse it instead. A leap second
  // (:60) is the next minute's start.
  if (!validDateTime(year, month, day, h, m, s)) return undefined;
  return utcMs(year, month, day, h, m, s, ms);
}

function zoneOffsetMs(zone: string | undefined): number {
  if (!zone || zone === 'Z') return 0;
  const sign = zone[0] === '-' ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  return sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || 0)) * 60_000;
}

/** Epoch ms of the timestamp a line starts with, or undefined. */
export function leadingTimestamp(line: string, referenceYear = new Date().getUTCFullYear()): number | undefined {
  let text = line;
  if (text.charCodeAt(0) === 91 /* [ */) text = text.slice(1);
  const c = text.charCodeAt(0);
  if (c >= 48 && c <= 57) {
    let m = ISO.exec(text);
    if (m) {
      const frac = m[7] ? Number(`0.${m[7]}`) * 1000 : 0;
      const t = utc(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), Math.floor(frac));
      return t === undefined ? undefined : t - zoneOffsetMs(m[8]);
    }
    m = EPOCH.exec(text);
    if (m) return epochToMs(Number(m[1]));
    m = COMPACT.exec(text) ?? SLASHED.exec(text);
    if (m) return utc(2000 + Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
    m = LOGCAT.exec(text);
    if (m) return utc(referenceYear, Number(m[1]) - 1, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  } else if (c >= 65 && c <= 90) {
    let m = KLOG.exec(text);
    if (m) return utc(referenceYear, Number(m[1]) - 1, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Math.floor(Number(`0.${m[6]}`) * 1000));
    m = CTIME.exec(text);
    if (m) return utc(Number(m[6]), MONTHS[m[1]!.toLowerCase()], Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]));
    m = BSD.exec(text);
    if (m) return utc(referenceYear, MONTHS[m[1]!.toLowerCase()], Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]));
  }
  const head = line.length > 120 ? line.slice(0, 120) : line;
  const access = ACCESS.exec(head);
  return access ? parseTimeLocal(access[1]!) : undefined;
}
