/** Reading the detector's verdict (`attributes.anomaly`) off an event, for outputs that send alerts. */
import { bodyText, type LogEvent } from '../../engine/event.js';

/**
 * The log entry an alert shows: the line as it was written when the parse transform kept it
 * (`keep_original: true` puts it in `attributes["log.original"]`), which is what an on-call engineer greps
 * for; else the body (its JSON once parsed: a combined-format access line showed as the parsed record).
 */
export function alertEntry(event: LogEvent): string {
  const original = event.attributes['log.original'];
  return typeof original === 'string' ? original : bodyText(event);
}

export interface AlertAnomaly {
  kind: string;
  confidence: number;
  score?: number | undefined;
  why: string;
  stream_id: string;
  template?: string | undefined;
  field?: string | undefined;
  /** The end of an incident, not one: a stream whose silence was told is back (`anomaly_detect`). */
  resolved?: boolean | undefined;
}

/** The anomaly an event carries, or undefined when it carries none (or not in the detector's shape). */
export function readAnomaly(event: LogEvent): AlertAnomaly | undefined {
  const a = event.attributes.anomaly;
  if (!a || typeof a !== 'object' || Array.isArray(a)) return undefined;
  if (typeof a.kind !== 'string' || typeof a.why !== 'string' || typeof a.confidence !== 'number') return undefined;
  return {
    kind: a.kind,
    confidence: a.confidence,
    score: typeof a.score === 'number' ? a.score : undefined,
    why: a.why,
    stream_id: typeof a.stream_id === 'string' ? a.stream_id : event.source.input,
    template: typeof a.template === 'string' ? a.template : undefined,
    field: typeof a.field === 'string' ? a.field : undefined,
    ...(a.resolved === true ? { resolved: true } : {}),
  };
}

/** What makes two anomalies "the same incident": stream, kind, and the field (or else the pattern). */
export function groupKey(a: AlertAnomaly): string {
  return `${a.stream_id}\u0000${a.kind}\u0000${a.field ?? a.template ?? ''}`;
}
