/**
 * The readable output of `driftlock stream` and `scan`: the first alert of an incident is shown in full and
 * its repeats are folded, as the Slack output groups them. An incident is the alerts of one stream, kind, and field or
 * pattern (`groupKey`). Each `windowMs` (of the clock it is given: the wall clock for `stream`, what a person
 * watching sees; the log's own time for `scan`, which reads hours of it in seconds), an incident that had
 * repeats gets one line saying how many and what the latest said; one that had none for a whole window is
 * over, and its next alert is shown in full again. A flood of slow responses at 1,000/s, which alerts on
 * every response until it has lasted `learn_after`, is then one block and a line every 10 s, not 1,000
 * blocks a second. JSON output (for programs) is never folded.
 */
import { groupKey, type AlertAnomaly } from '../outputs/delivery/alert.js';

/** Incidents followed at once, at most: beyond, alerts are shown in full (and nothing is held for them). */
const MAX_INCIDENTS = 1000;

interface Incident {
  /** When its current window began, on the clock the folder is given. */
  windowStart: number;
  /** Alerts folded in the current window, and in all since its first. */
  repeats: number;
  total: number;
  latest: AlertAnomaly;
  /** When the latest alert came (the folder's clock). */
  latestAt: number;
}

/** What one line says of an incident's folded repeats. */
export interface FoldedRepeats {
  anomaly: AlertAnomaly;
  /** Alerts folded since the last line (or the first alert). */
  repeats: number;
  /** Alerts of the incident since it began, the first included. */
  total: number;
  /** Seconds the repeats came in: from the window's start (the last line, or the first alert) to the latest. */
  seconds: number;
}

export class RepeatFolder {
  private readonly incidents = new Map<string, Incident>();
  /** The earliest window start of the incidents (as of the last `due`, or a later start): before its end nothing is due. */
  private earliest = Infinity;

  /** `windowMs` 0 or less folds nothing. */
  constructor(private readonly windowMs: number) {}

  /** Whether to show the alert in full; if not, it is folded into its incident's next line. */
  show(anomaly: AlertAnomaly, now: number): boolean {
    if (this.windowMs <= 0) return true;
    const key = groupKey(anomaly);
    const incident = this.incidents.get(key);
    if (incident === undefined) {
      if (this.incidents.size < MAX_INCIDENTS) {
        this.incidents.set(key, { windowStart: now, repeats: 0, total: 1, latest: anomaly, latestAt: now });
        if (now < this.earliest) this.earliest = now;
      }
      return true;
    }
    incident.repeats += 1;
    incident.total += 1;
    incident.latest = anomaly;
    incident.latestAt = now;
    return false;
  }

  /**
   * The lines of the incidents whose window has ended (of all of them with `end`, at the end of input);
   * an incident without repeats in its window is over and forgotten. A clock that went back (a log's time)
   * ends every window. Cheap when nothing is due: it may be asked at every alert.
   */
  due(now: number, end = false): FoldedRepeats[] {
    if (!end && now >= this.earliest && now - this.earliest < this.windowMs) return [];
    const out: FoldedRepeats[] = [];
    this.earliest = Infinity;
    for (const [key, incident] of this.incidents) {
      if (!end && now >= incident.windowStart && now - incident.windowStart < this.windowMs) {
        if (incident.windowStart < this.earliest) this.earliest = incident.windowStart;
        continue;
      }
      if (incident.repeats > 0) {
        // When they came, not when the line is due: a 2 s burst read "in 11 s" (the window, stretched by the ticker).
        out.push({ anomaly: incident.latest, repeats: incident.repeats, total: incident.total, seconds: Math.max(0, incident.latestAt - incident.windowStart) / 1000 });
      }
      if (end || incident.repeats === 0) this.incidents.delete(key);
      else {
        incident.repeats = 0;
        incident.windowStart = now;
        if (now < this.earliest) this.earliest = now;
      }
    }
    return out;
  }
}
