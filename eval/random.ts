/**
 * Seeded randomness for the evaluation harness: every generated fixture and every injection is a pure
 * function of its seed, so two runs with the same seed score exactly the same lines.
 *
 * The harness keeps its own generator (mulberry32, the same algorithm the `demo` input uses) instead of
 * importing the product's: the evaluation must not depend on the code it evaluates.
 */

/** A source of uniform numbers in [0, 1). */
export type Random = () => number;

/** mulberry32: small, fast, seedable; plenty for choosing lines and synthesising latencies. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [lo, hi], both included. */
export function randomInt(random: Random, lo: number, hi: number): number {
  return lo + Math.floor(random() * (hi - lo + 1));
}

/** One element of a non-empty list. */
export function pick<T>(random: Random, list: readonly T[]): T {
  if (list.length === 0) throw new Error('pick from an empty list');
  return list[Math.floor(random() * list.length)]!;
}

/** A standard normal deviate (Box-Muller). */
export function gaussian(random: Random): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** Log-normal around `median` (its median), with `sigma` the standard deviation of the log. */
export function logNormal(random: Random, median: number, sigma: number): number {
  return median * Math.exp(sigma * gaussian(random));
}

/** An exponential deviate with the given mean: inter-arrival times of a Poisson process. */
export function exponential(random: Random, mean: number): number {
  return -mean * Math.log(1 - random());
}

/** Fisher-Yates shuffle of a copy. */
export function shuffled<T>(random: Random, list: readonly T[]): T[] {
  const out = list.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** `k` distinct elements chosen uniformly, returned in their original order. */
export function sampleWithoutReplacement<T>(random: Random, list: readonly T[], k: number): T[] {
  if (k > list.length) throw new Error(`cannot sample ${k} of ${list.length}`);
  const indices = shuffled(random, list.map((_, i) => i)).slice(0, k).sort((a, b) => a - b);
  return indices.map((i) => list[i]!);
}
