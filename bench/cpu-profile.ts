/**
 * A CPU profile of one stretch of in-process code (through the inspector, so set-up and input generation
 * stay out of it), and the functions that took the most self time in it, for `bench/detector.ts`.
 */
import { writeFile } from 'node:fs/promises';
import { Session, type Profiler } from 'node:inspector/promises';

export interface HotFunction {
  name: string;
  location: string;
  selfMs: number;
  selfShare: number;
  totalShare: number;
}

/** Runs `fn` under the sampling profiler; writes the profile (Chrome DevTools format) to `file`. */
export async function profile<T>(file: string, fn: () => T): Promise<{ result: T; profile: Profiler.Profile }> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    await session.post('Profiler.start');
    const result = fn();
    const { profile } = await session.post('Profiler.stop');
    await writeFile(file, JSON.stringify(profile));
    return { result, profile };
  } finally {
    session.disconnect();
  }
}

function shortUrl(url: string): string {
  const i = url.indexOf('/dist/');
  return i >= 0 ? url.slice(i + 1) : url.replace(/^file:\/\//, '');
}

/** Functions by self time (summed over all their call sites), with their inclusive share. */
export function hotFunctions(p: Profiler.Profile, top = 10): HotFunction[] {
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const key = (n: Profiler.ProfileNode) => {
    const f = n.callFrame;
    const name = f.functionName || (f.url ? '(anonymous)' : '(native)');
    const where = f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : '';
    return `${name.length > 60 ? name.slice(0, 57) + '...' : name}\u0000${where}`;
  };
  const time = new Map<number, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  let total = 0;
  for (let i = 0; i < samples.length; i++) {
    // The delta before sample i+1 is the time sample i was on the stack.
    const d = deltas[i + 1] ?? 0;
    time.set(samples[i]!, (time.get(samples[i]!) ?? 0) + d);
    total += d;
  }
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, t] of time) {
    const k = key(nodes.get(id)!);
    self.set(k, (self.get(k) ?? 0) + t);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const kk = key(nodes.get(cur)!);
      if (seen.has(kk)) continue;
      seen.add(kk);
      inclusive.set(kk, (inclusive.get(kk) ?? 0) + t);
    }
  }
  return [...self]
    .filter(([k]) => !k.startsWith('(root)') && !k.startsWith('(idle)'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, t]) => {
      const [name, location] = k.split('\u0000') as [string, string];
      return { name, location, selfMs: t / 1000, selfShare: total ? t / total : 0, totalShare: total ? inclusive.get(k)! / total : 0 };
    });
}
