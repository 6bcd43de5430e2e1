/**
 * How an anomaly reads to a person: shared by the `stream` and `scan` commands (and any output that shows
 * alerts as text), so that an alert looks the same wherever it appears.
 */
import type { Anomaly } from '../detector/index.js';
import { printable, truncate } from '../printable.js';

export interface AlertView {
  anomaly: Pick<Anomaly, 'kind' | 'score' | 'confidence' | 'why' | 'stream_id' | 'template'> & { field?: string | undefined; resolved?: boolean | undefined };
  /** The log entry as it was read. */
  entry: string;
  /** Event time (or arrival time), epoch ms; none for a line that has no time of its own. */
  time?: number | undefined;
  /** `file:line` or similar, when known. */
  location?: string;
}

const ANSI = { bold: '\x1b[1m', dim: '\x1b[2m', red: '\x1b[31m', yellow: '\x1b[33m', green: '\x1b[32m', cyan: '\x1b[36m', reset: '\x1b[0m' };
const PLAIN: typeof ANSI = { bold: '', dim: '', red: '', yellow: '', green: '', cyan: '', reset: '' };

export function percent(confidence: number): string {
  const p = confidence * 100;
  return `${p >= 99.95 ? '99.9+' : p.toFixed(1)}%`;
}

/** A few lines for a terminal: headline (time, stream, kind, confidence), the why, the entry. */
export function renderAlertText(view: AlertView, color: boolean): string {
  const c = color ? ANSI : PLAIN;
  const a = view.anomaly;
  const tone = a.confidence >= 0.99 ? c.red : c.yellow;
  const time = view.time === undefined ? '' : new Date(view.time).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  const where = view.location ? `  ${c.dim}${printable(view.location)}${c.reset}` : '';
  // The end of a silence told while it lasted: no entry of its own (its why is the whole of it).
  if (a.resolved) return `${c.green}${c.bold}✔ back${c.reset}  ${c.bold}${printable(a.stream_id)}${c.reset}  ${c.dim}${time}${c.reset}\n  ${printable(a.why).replace(/\n/g, '⏎')}\n`;
  return (
    `${tone}${c.bold}▲ ${a.kind}${c.reset}  ${c.bold}${printable(a.stream_id)}${c.reset}  confidence ${tone}${percent(a.confidence)}${c.reset}  ${c.dim}${time}${c.reset}${where}\n` +
    `  ${printable(a.why).replace(/\n/g, '⏎')}\n` +
    `  ${c.cyan}${printable(truncate(view.entry.replace(/\r?\n/g, '⏎'), 300))}${c.reset}\n`
  );
}

/** One line for the folded repeats of an alert (see src/cli/repeat-folder.ts); `seconds` they came in, when that means something. */
export function renderRepeatsText(repeats: number, total: number, seconds: number | undefined, latestWhy: string, color: boolean): string {
  const c = color ? ANSI : PLAIN;
  const span = seconds !== undefined && seconds >= 1 ? ` in ${Math.round(seconds).toLocaleString('en-US')} s` : '';
  return `  ${c.dim}↳ ${repeats.toLocaleString('en-US')} more like it${span} (${total.toLocaleString('en-US')} in all); latest: ${printable(truncate(latestWhy, 200)).replace(/\n/g, '⏎')}${c.reset}\n`;
}
