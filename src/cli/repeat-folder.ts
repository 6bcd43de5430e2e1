/**
 * `driftlock stream` on a terminal: the first alert of an incident is shown in full and its repeats are
 * folded, as the Slack output groups them. An incident is the alerts of one stream, kind, and field or
 * pattern (`groupKey`). Each `windowMs` (wall time: what a person watching sees), an incident that had
 * repeats gets one line saying how many and what the latest said; one that had none for a whole window is
 * over, and its next alert is shown in full again. A flood of slow responses at 1,000/s, which alerts on
 * every response until it has lasted `learn_after`, is then one block and a line every 10 s, not 1,000
 * blocks a second. JSON output (for programs) is never folded.
 */
import { groupKey, type AlertAnomaly } from '../outputs/delivery/alert.js';

/** Incidents followed at once, at most: beyond, alerts are shown in full (and nothing is held for them). */
const MAX_INCIDENTS = 1000;

interface Incident {
  /** Wall time at which its current window began. */
  windowStart: number;
  /** Alerts folded in the current window, and in all since its first. */
  repeats: number;
  total: number;
  latest: AlertAnomaly;
}

/** What one line says of an incident's folded repeats. */
export interface FoldedRepeats {
  anomaly: AlertAnomaly;
  /** Alerts folded since the last line (or the first alert). */
  repeats: number;
  /** Alerts of the incident since it began, the first included. */
  total: number;
  /** Seconds the repeats came in. */
  seconds: number;
}

export class RepeatFolder {
  private readonly incidents = new Map<string, Incident>();

  /** `windowMs` 0 or less folds nothing. */
  constructor(private readonly windowMs: number) {}

  /** Whether to show the alert in full; if not, it is folded into its incident's next line. */
  show(anomaly: AlertAnomaly, now: number): boolean {
    if (this.windowMs <= 0) return true;
    const key = groupKey(anomaly);
    const incident = this.incidents.get(key);
    if (incident === undefined) {
      if (this.incidents.size < MAX_INCIDENTS) this.incidents.set(key, { windowStart: now, repeats: 0, total: 1, latest: anomaly });
      return true;
    }
    incident.repeats += 1;
    incident.total += 1;
    incident.latest = anomaly;
    return false;
  }

  /**
   * The lines of the incidents whose window has ended (of all of them with `end`, at the end of input);
   * an incident without repeats in its window is over and forgotten.
   */
  due(now: number, end = false): FoldedRepeats[] {
    const out: FoldedRepeats[] = [];
    for (const [key, incident] of this.incidents) {
      if (!end && now - incident.windowStart < this.windowMs) continue;
      if (incident.repeats > 0) {
        out.push({ anomaly: incident.latest, repeats: incident.repeats, total: incident.total, seconds: Math.max(0, now - incident.windowStart) / 1000 });
      }
      if (end || incident.repeats === 0) this.incidents.delete(key);
      else {
        incident.repeats = 0;
        incident.windowStart = now;
      }
    }
    return out;
  }
}
