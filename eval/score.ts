/**
 * Pure scoring functions for `npm run eval`. Inputs are the 1-based line numbers the scanner flagged (a
 * line flagged several times counts once) and the ground truth per line (`truth[i]` is line `i + 1`).
 *
 * Conventions: a ratio whose denominator is 0 is 0 (precision when nothing is flagged, recall when there is
 * nothing to find), so a silent detector scores 0, never NaN. Flags outside the scored lines are ignored
 * and counted in `outOfRange` (a flag past the end of the file is a bug in the scanner's `line`).
 */
import type { Episode } from './datasets.js';

export interface Metrics {
  tp: number;
  fp: number;
  fn: number;
  precision: number;
  recall: number;
  f1: number;
}

/** n / d, or 0 when d is 0. */
export function ratio(n: number, d: number): number {
  return d === 0 ? 0 : n / d;
}

export function metricsFromCounts(tp: number, fp: number, fn: number): Metrics {
  const precision = ratio(tp, tp + fp);
  const recall = ratio(tp, tp + fn);
  return { tp, fp, fn, precision, recall, f1: ratio(2 * precision * recall, precision + recall) };
}

export interface ScoreRange {
  /** First scored line (1-based, default 1): lines before it (a warm-up) are not scored. */
  fromLine?: number;
}

function lineSet(flagged: Iterable<number>): Set<number> {
  return flagged instanceof Set ? (flagged as Set<number>) : new Set(flagged);
}

export interface LineMetrics extends Metrics {
  tn: number;
  /** Lines scored (from `fromLine` to the end). */
  scoredLines: number;
  /** Distinct flagged lines outside the scored range (before `fromLine`, or past the end). */
  outOfRange: number;
}

/** Line-level precision, recall and F1 of binary truth. */
export function lineMetrics(flagged: Iterable<number>, truth: readonly boolean[], options: ScoreRange = {}): LineMetrics {
  const from = Math.max(1, options.fromLine ?? 1);
  const set = lineSet(flagged);
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  for (let line = from; line <= truth.length; line++) {
    const hit = set.has(line);
    if (truth[line - 1]) {
      if (hit) tp++;
      else fn++;
    } else if (hit) fp++;
    else tn++;
  }
  let outOfRange = 0;
  for (const line of set) if (line < from || line > truth.length) outOfRange++;
  return { ...metricsFromCounts(tp, fp, fn), tn, scoredLines: Math.max(0, truth.length - from + 1), outOfRange };
}

export interface EpisodeRecall {
  found: number;
  total: number;
  recall: number;
  missed: Episode[];
}

/** An episode is found when at least one of its lines is flagged. */
export function episodeRecall(flagged: Iterable<number>, episodes: readonly Episode[]): EpisodeRecall {
  const set = lineSet(flagged);
  const missed = episodes.filter((e) => {
    for (let line = e.start; line <= e.end; line++) if (set.has(line)) return false;
    return true;
  });
  const found = episodes.length - missed.length;
  return { found, total: episodes.length, recall: ratio(found, episodes.length), missed };
}

export interface GroupRecall {
  group: string;
  lines: number;
  flagged: number;
  recall: number;
}

/** Recall per group of positive lines (`groups[i]` for line `i + 1`; null for negatives), sorted by size. */
export function recallByGroup(flagged: Iterable<number>, groups: ReadonlyArray<string | null>, options: ScoreRange = {}): GroupRecall[] {
  const set = lineSet(flagged);
  const from = Math.max(1, options.fromLine ?? 1);
  const acc = new Map<string, { lines: number; flagged: number }>();
  for (let line = from; line <= groups.length; line++) {
    const g = groups[line - 1];
    if (g === null || g === undefined) continue;
    const a = acc.get(g) ?? { lines: 0, flagged: 0 };
    a.lines++;
    if (set.has(line)) a.flagged++;
    acc.set(g, a);
  }
  return [...acc]
    .map(([group, a]) => ({ group, lines: a.lines, flagged: a.flagged, recall: ratio(a.flagged, a.lines) }))
    .sort((x, y) => y.lines - x.lines || x.group.localeCompare(y.group));
}

export interface FamilyRow<F extends string> {
  family: F;
  /** Positive lines of this family in the scored range. */
  injected: number;
  /**
   * tp/fn of this family; fp = every flagged normal line. Precision is thus "as if only this family had
   * been injected": TP_f / (TP_f + FP), a pessimistic per-family precision that every false alarm lowers.
   */
  metrics: Metrics;
}

export interface FamilyMetrics<F extends string> {
  perFamily: Array<FamilyRow<F>>;
  /** All families together: TP / (TP + FP), TP / all positives. */
  overall: Metrics;
  /** Normal lines in the scored range. */
  normalLines: number;
  /** Flagged normal lines in the scored range, ascending. */
  falsePositiveLines: number[];
  /** FP / normal lines. */
  falseAlarmRate: number;
}

/** Per-family metrics of a multi-class truth (`labels[i]` the family of line `i + 1`, null when normal). */
export function familyMetrics<F extends string>(
  flagged: Iterable<number>,
  labels: ReadonlyArray<F | null>,
  families: readonly F[],
  options: ScoreRange = {},
): FamilyMetrics<F> {
  const set = lineSet(flagged);
  const from = Math.max(1, options.fromLine ?? 1);
  const counts = new Map<F, { tp: number; fn: number }>(families.map((f) => [f, { tp: 0, fn: 0 }]));
  const falsePositiveLines: number[] = [];
  let normalLines = 0;
  for (let line = from; line <= labels.length; line++) {
    const label = labels[line - 1] ?? null;
    const hit = set.has(line);
    if (label === null) {
      normalLines++;
      if (hit) falsePositiveLines.push(line);
      continue;
    }
    const c = counts.get(label);
    if (!c) throw new Error(`label ${label} on line ${line} is not one of ${families.join(', ')}`);
    if (hit) c.tp++;
    else c.fn++;
  }
  const fp = falsePositiveLines.length;
  let tp = 0;
  let fn = 0;
  const perFamily = families.map((family) => {
    const c = counts.get(family)!;
    tp += c.tp;
    fn += c.fn;
    return { family, injected: c.tp + c.fn, metrics: metricsFromCounts(c.tp, fp, c.fn) };
  });
  return { perFamily, overall: metricsFromCounts(tp, fp, fn), normalLines, falsePositiveLines, falseAlarmRate: ratio(fp, normalLines) };
}

export interface FalseAlarms {
  /** Lines after the warm-up. */
  lines: number;
  /** Distinct flagged lines after the warm-up. */
  flagged: number;
  /** flagged / lines. */
  rate: number;
  /** Distinct flagged lines inside the warm-up (not counted in `rate`). */
  warmupFlagged: number;
}

/** False-alarm rate on a file of normal lines: every flag after the warm-up is a false alarm. */
export function falseAlarmRate(flagged: Iterable<number>, lineCount: number, warmupLines: number): FalseAlarms {
  const set = lineSet(flagged);
  let after = 0;
  let during = 0;
  for (const line of set) {
    if (line < 1 || line > lineCount) continue;
    if (line > warmupLines) after++;
    else during++;
  }
  const lines = Math.max(0, lineCount - warmupLines);
  return { lines, flagged: after, rate: ratio(after, lines), warmupFlagged: during };
}

export type Comparison = '>=' | '<=';

/** Whether `value` meets `target`. */
export function meets(value: number, comparison: Comparison, target: number): boolean {
  return comparison === '>=' ? value >= target : value <= target;
}
