/**
 * How a `why` reads: numbers, shares, durations and times as a person says them, and quoted text cut
 * without half characters (a pattern loses its middle, not its end). Pure functions of the stream detector.
 */
import { dateable } from '../engine/event.js';
import type { Template } from './drain.js';
import { MASK_CLASS, unmask } from './mask.js';
import type { StreamClock } from './stream-clock.js';

/** A share as a percentage that does not round a rare value to 0% (or a near-total one to 100%). */
export function percentText(share: number): string {
  const p = share * 100;
  if (p >= 1 && p <= 99) return `${Math.round(p)}%`;
  if (p > 99 && p < 100) return `${Math.min(p, 99.9).toFixed(1)}%`;
  return p === 0 || p === 100 ? `${p}%` : `${p.toFixed(p < 0.1 ? 2 : 1)}%`;
}

/** A number in a why: thousands grouped (`5,829`), whole from 10, two decimals from 1, two digits below. */
export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (n === 0) return '0';
  const a = Math.abs(n);
  // Beyond what digits say to a person (1e308 has 309 of them): powers of ten.
  if (a >= 1e15) return n.toPrecision(3);
  if (a >= 1000) return Math.round(n).toLocaleString('en-US');
  if (a >= 10) return n.toFixed(0);
  if (a >= 1) return n.toFixed(2).replace(/\.?0+$/, '');
  return n.toPrecision(2);
}

/** Seconds as a person reads a duration: `350µs`, `22ms`, `2.1s`, `4.5 min`, `1.2 h`. */
export function durationValue(seconds: number): string {
  const a = Math.abs(seconds);
  if (a === 0) return '0s';
  if (a < 1e-6) return `${fmt(seconds * 1e9)}ns`;
  if (a < 1e-3) return `${fmt(seconds * 1e6)}µs`;
  if (a < 1) return `${fmt(seconds * 1e3)}ms`;
  if (a < 120) return `${fmt(seconds)}s`;
  if (a < 7200) return `${fmt(seconds / 60)} min`;
  return `${fmt(seconds / 3600)} h`;
}

/** `45 s`, `12 min`, `2.0 h`, `3.5 days`: a silence as a person says it. */
export function durationText(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86_400).toFixed(1)} days`;
}

/** Seconds as people read them: `1.5 s`, `65 min`, `2.5 h` (3,900 s read badly at 3 a.m.). */
export function spanText(seconds: number): string {
  return seconds < 120 ? `${fmt(seconds)} s` : durationText(Math.round(seconds));
}

export function severityName(n: number | undefined): string {
  if (n === undefined) return '';
  if (n >= 21) return 'FATAL';
  if (n >= 17) return 'ERROR';
  if (n >= 13) return 'WARN';
  return '';
}

// Half of a surrogate pair, left by a cut through an emoji or another character beyond the BMP.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Text cut for a `why`, without half characters at the cuts. */
export function whole(text: string): string {
  return text.replace(LONE_SURROGATE, '');
}

/** Masked text as people read it, cut to `max` characters (an ellipsis marks the cut). */
export function clip(text: string, max: number): string {
  const t = unmask(text).trim();
  return whole(t.length > max ? t.slice(0, max - 1) + '…' : t);
}

export function quote(text: string, max = 60): string {
  return JSON.stringify(clip(text, max));
}

/** A clock time as an ISO 8601 date for a why (a time no Date can hold, which no event gives, as ms). */
export function isoTime(ms: number): string {
  return dateable(ms) !== undefined ? new Date(ms).toISOString() : `${ms} ms`;
}

/**
 * How often a pattern that is not normal yet has come: ` (seen 3 times since 2025-01-01T12:00:00.000Z, not
 * normal yet)`; without the date when the stream has no event times (or had none when the pattern began).
 * The date is in the source's time as it is now (`StreamClock.sourceTime`).
 */
export function seenSince(template: Template, timed: boolean, clock: StreamClock): string {
  const since = timed && template.firstSeen > 0 ? ` since ${isoTime(clock.sourceTime(template.firstSeen))}` : '';
  return ` (seen ${template.count} times${since}, not normal yet)`;
}

/**
 * A pattern, quoted; a long one loses its middle rather than its end: the end is where a log line says
 * what happened, after the timestamp, thread and logger name (`<ts> ERROR [main] org.apache…: Failed to…`).
 */
export function quotePattern(text: string, max = 100): string {
  const t = unmask(text).trim();
  if (t.length <= max) return JSON.stringify(t);
  const head = Math.floor(max * 0.3);
  let start = t.slice(0, head);
  let end = t.slice(t.length - (max - head - 1));
  // Cut between words where one is near ("Database …failed: timeout", not "Database …ailed: timeout").
  const lastSpace = start.lastIndexOf(' ');
  if (lastSpace >= head / 2) start = start.slice(0, lastSpace + 1);
  const firstSpace = end.indexOf(' ');
  if (firstSpace >= 0 && firstSpace <= end.length / 3) end = end.slice(firstSpace + 1);
  return JSON.stringify(whole(`${start}…${end}`));
}

const WORD_CHAR = /[\p{L}\p{N}_]/u;
/** Text that is more than spaces and masks. */
const SAYS_SOMETHING = new RegExp(`[^\\s${MASK_CLASS}]`);

/**
 * The unexplained parts of a text, as a short quoted list for a `why`. A literal run of the compression
 * starts and ends where the baseline's matches did, often inside a word (`put/out` of `Input/output`):
 * each is widened to whole words (at most 16 characters each way) so that it reads.
 */
export function newText(text: string, runs: Array<[number, number]>, max = 2): string {
  const parts = runs
    .filter(([a, b]) => b - a >= 3 && SAYS_SOMETHING.test(text.slice(a, b)))
    .slice(0, max)
    .sort((x, y) => x[0] - y[0])
    .map(([a, b]) => {
      let s = a;
      let e = b;
      while (s > 0 && a - s < 16 && WORD_CHAR.test(text[s - 1]!) && WORD_CHAR.test(text[s]!)) s--;
      while (e < text.length && e - b < 16 && WORD_CHAR.test(text[e]!) && WORD_CHAR.test(text[e - 1]!)) e++;
      return quote(text.slice(s, e), 48);
    });
  return parts.join(', ');
}
