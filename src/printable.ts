/**
 * Text from a log line or a client, shown to a person (a terminal, driftlock's own log, an answer to a sender):
 * cut to a length, with control characters shown rather than obeyed. Shared by the alert formats, the parsers'
 * errors and the network inputs' problems.
 */
import { cutWhole } from './detector/strings.js';

/** Cuts text to `max` characters, saying how much was left out. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  // Not between the halves of a surrogate pair: half an emoji is no character, and a terminal shows U+FFFD.
  const head = cutWhole(text, max);
  return `${head}… (${(text.length - head.length).toLocaleString('en-US')} more characters)`;
}

// C0 controls but tab and newline, DEL and C1 controls: what a terminal would obey rather than show.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/**
 * Text from a log line made safe for a terminal: control characters (an escape sequence that would set
 * the window title, clear the screen or hide what follows) are shown as `\x1b`, never sent as they are.
 */
export function printable(text: string): string {
  return text.replace(CONTROL, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** As `printable`, on one line: a line end shown as `\x0a` (a daemon's log line or an HTTP answer that quotes a client's text). */
export function printableLine(text: string): string {
  return printable(text).replace(/\n/g, '\\x0a');
}
