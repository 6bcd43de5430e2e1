/**
 * What an event's text says of itself, read before any baseline: the level a line states, a duration
 * written with its unit, the words that stay of a message once its variables are dropped, a field name made
 * of data, URL escapes undone. Pure functions, used by the stream detector (`stream.ts`) and `redact`.
 */
import { severityNumberFromText } from '../engine/event.js';
import { MASK_FIRST, MASK_LAST } from './mask.js';
import type { DetectorInput } from './types.js';

const PERCENT_ESCAPE = /%[0-9A-Fa-f]{2}/;
const PERCENT_ESCAPES = /%([0-9A-Fa-f]{2})/g;

/**
 * Undoes URL percent-encoding (`%27%20OR%201=1` is `' OR 1=1`), so that a field's words and syntax are
 * judged as the application will read them, not as the client escaped them. Invalid UTF-8 sequences
 * decode byte by byte.
 */
export function percentDecode(text: string): string {
  if (!PERCENT_ESCAPE.test(text)) return text;
  try {
    return decodeURIComponent(text.replace(/%(?![0-9A-Fa-f]{2})/g, '%25'));
  } catch {
    return text.replace(PERCENT_ESCAPES, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  }
}

/**
 * Whether a field name is made of data, one per request or tenant (`req_8213`, `user_5f3a9c1e`, `10.0.0.1`,
 * `2025-06-01`): a run of four digits or more, a hex id of eight characters or more with a digit in it, or
 * numbers joined by dots, colons or dashes. Not a name with a short number of its own (`s3_bucket`, `http2`,
 * `ipv4`, `k8s_namespace`, `log4j_logger`, `sha256`): before, any digit made a name data, and such a field was
 * never new.
 */
export function madeOfData(name: string): boolean {
  return /\d{4}/.test(name) || /(?<![0-9a-z])(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}(?![0-9a-z])/i.test(name) || /\d[.:-]\d+[.:-]\d/.test(name);
}

/**
 * What stays of a text event when every token holding a digit or a masked value is dropped: `RAS KERNEL
 * FATAL data storage interrupt` for any node, time and address. Finer than a template (which may have
 * merged several messages of the same length) and blind to what changes from one repeat to the next.
 * Undefined when too little stays to tell messages apart: fewer than two words with a letter, or fewer
 * constant tokens than variable ones (an access line keeps only `- - "GET`; a line of numbers nothing).
 */
export function messageSignature(tokens: readonly string[]): string | undefined {
  let sig = '';
  let constants = 0;
  let words = 0;
  for (const t of tokens) {
    let constant = true;
    let letter = false;
    for (let i = 0; i < t.length; i++) {
      const c = t.charCodeAt(i);
      if ((c >= 48 && c <= 57) || (c >= MASK_FIRST && c <= MASK_LAST)) {
        constant = false;
        break;
      }
      if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c > 127) letter = true;
    }
    if (!constant) continue;
    constants += 1;
    if (letter) words += 1;
    sig += sig ? ` ${t}` : t;
  }
  return words >= 2 && constants * 2 >= tokens.length ? sig : undefined;
}

const BLANK = /^\s*$/;

/** A blank line (spaces, tabs): it says nothing, and is neither scored, learned nor counted. */
export function saysNothing(input: DetectorInput): boolean {
  return !input.fields && BLANK.test(input.text);
}

/** A duration with its unit, as Go prints one: `150ms`, `2.1s`, `1m30.5s`, `1h2m0s`, `350µs`, `0s`. */
const DURATION_TEXT = /^-?(?:\d+(?:\.\d+)?(?:ns|us|µs|μs|ms|s|m|h))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)/g;
const UNIT_SECONDS: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, μs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/** A duration text's seconds (`1m30.5s` is 90.5), or undefined when it is none. */
export function durationSeconds(text: string): number | undefined {
  if (text.length > 32 || !DURATION_TEXT.test(text)) return undefined;
  let seconds = 0;
  for (const m of text.matchAll(DURATION_PART)) seconds += Number(m[1]) * UNIT_SECONDS[m[2]!]!;
  return text.startsWith('-') ? -seconds : seconds;
}

// A level written as a word: at the start in any case ("error: ..."), or upper-case anywhere near the start.
const LEVEL_WORDS = 'trace|debug|info|notice|warn|warning|error|err|crit|critical|alert|emerg|fatal|severe|panic';
const LEVEL_AT_START = new RegExp(`^\\W*(${LEVEL_WORDS})\\b`, 'i');
// Upper case anywhere: the same words but `ERR`, which is too short to trust in the middle of a line.
const LEVEL_UPPER = /\b(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|CRIT|CRITICAL|ALERT|EMERG|FATAL|SEVERE|PANIC)\b/;

// ...or in any case right after a leading time (`2016-09-28 04:30:30, Error  CBS ...`, `12:00:01 [warning] ...`).
const LEVEL_AFTER_TIME = new RegExp(`^\\[?(?:\\d{4}[-/.]\\d\\d[-/.]\\d\\d[T ])?\\d\\d:\\d\\d:\\d\\d(?:[.,]\\d+)?(?:Z|[+-]\\d\\d:?\\d\\d)?\\]?[\\s,|:-]*\\[?(${LEVEL_WORDS})\\b`, 'i');
// Two line formats that write the level as one letter in a fixed place: klog (Kubernetes, glog:
// `E1125 21:54:40.123456   12345 reflector.go:138] ...`) and Android logcat (`03-17 16:13:46.764  2227  2794 E Tag: ...`).
const KLOG_LEVEL = /^([IWEF])\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [^\s\]]+:\d+\] /;
const LOGCAT_LEVEL = /^\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\s+\d+\s+\d+ ([VDIWEFA]) /;
const LEVEL_LETTER: Record<string, number> = { V: 1, D: 5, I: 9, W: 13, E: 17, F: 21, A: 21 };

/** The severity number a text line states itself, if any: a level letter of klog or logcat, or a level word. */
export function levelOf(text: string): number | undefined {
  const letter = KLOG_LEVEL.exec(text) ?? LOGCAT_LEVEL.exec(text);
  if (letter) return LEVEL_LETTER[letter[1]!];
  const m = LEVEL_AT_START.exec(text) ?? LEVEL_AFTER_TIME.exec(text) ?? LEVEL_UPPER.exec(text.length > 160 ? text.slice(0, 160) : text);
  return m ? severityNumberFromText(m[1]!) : undefined;
}

/**
 * How much more an unexplained event matters for its severity: an error the baseline cannot explain is
 * more likely to be news than an unexplained debug line. INFO and below 1, WARN 1.67, ERROR 2.33, FATAL 3.
 */
export function severityWeight(n: number | undefined): number {
  return n === undefined ? 1 : 1 + Math.max(0, Math.min(n, 21) - 9) / 6;
}
