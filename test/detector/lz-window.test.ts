import { describe, it, expect } from 'vitest';
import { LzWindow } from '../../src/detector/index.js';
import { REBASE_AT, setLocalStamp } from '../../src/detector/lz-window.js';
import { mulberry32 } from './baseline.js';

const FOX = 'the quick brown fox jumps over the lazy dog';

function windowWith(lines: string[], size = 1 << 12): LzWindow {
  const w = new LzWindow(size);
  for (const line of lines) w.append(line);
  return w;
}

/** Random lower-case letters: text no window of English-like lines can explain. */
function noise(seed: number, n: number): string {
  const rnd = mulberry32(seed);
  return Array.from({ length: n }, () => String.fromCharCode(97 + Math.floor(rnd() * 26))).join('');
}

describe('LzWindow', () => {
  it('rejects a size that is not a power of two', () => {
    expect(() => new LzWindow(1000)).toThrow(RangeError);
    expect(() => new LzWindow(1024)).not.toThrow();
  });

  it('gives text seen in the window a low ratio and no literal runs', () => {
    const w = windowWith([FOX, 'lorem ipsum dolor sit amet', FOX]);
    const c = w.cost(FOX);
    expect(c.ratio).toBeLessThan(0.2);
    expect(c.conditionalBits).toBeLessThan(c.selfBits / 5);
    expect(c.literalRuns).toEqual([]);
  });

  it('gives unrelated text a ratio near 1, one literal run over all of it', () => {
    const w = windowWith([FOX, FOX]);
    const text = 'zebra xylophone qwerty vortex';
    const c = w.cost(text);
    expect(c.ratio).toBeGreaterThan(0.9);
    expect(c.ratio).toBeLessThanOrEqual(1.5);
    expect(c.literalRuns).toEqual([[0, text.length]]);
  });

  it('scores an empty window like the text on its own', () => {
    const w = new LzWindow(1 << 10);
    const c = w.cost(FOX);
    expect(c.conditionalBits).toBe(c.selfBits);
    expect(c.ratio).toBe(1);
    expect(w.cost('').ratio).toBe(0);
  });

  it('points its literal runs at the span the window cannot explain', () => {
    const w = windowWith([FOX, FOX, FOX]);
    const text = 'the quick brown fox XYZZYPLUGH over the lazy dog';
    const c = w.cost(text);
    expect(c.literalRuns.length).toBeGreaterThanOrEqual(1);
    const [start, end] = c.literalRuns[0]!;
    expect(text.slice(start, end)).toBe('XYZZYPLUGH');
    // Partly explained: between the seen text and the unrelated text.
    expect(c.ratio).toBeGreaterThan(w.cost(FOX).ratio);
    expect(c.ratio).toBeLessThan(0.6);
  });

  it('sorts literal runs longest first', () => {
    const w = windowWith([FOX, FOX]);
    const text = `the quick ${noise(1, 6)} fox jumps over ${noise(2, 20)} lazy dog`;
    const runs = w.cost(text).literalRuns;
    expect(runs.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < runs.length; i++) expect(runs[i - 1]![1] - runs[i - 1]![0]).toBeGreaterThanOrEqual(runs[i]![1] - runs[i]![0]);
    const [s, e] = runs[0]!;
    expect(text.slice(s, e)).toContain(noise(2, 20).slice(2, 18));
  });

  it('explains repetition inside the event itself (self-matches)', () => {
    const w = new LzWindow(1 << 10);
    const once = noise(3, 40);
    expect(w.selfBits(once.repeat(4))).toBeLessThan(2 * w.selfBits(once));
  });

  it('still finds repetition inside the event after two billion calls (its stamps wrap around, not break)', () => {
    const once = noise(3, 40);
    const text = once.repeat(4);
    const w = windowWith([FOX, noise(4, 200)]);
    const before = { self: w.selfBits(text), cost: w.cost(text).conditionalBits };
    // Past 2^31 - 1 the stamps were stored wrapped in an Int32Array, never equal to the counter again: every
    // later event lost its matches within itself (self bits of 4 repeats up from those of about 1.3 to 4).
    setLocalStamp(0x7fffffff - 3);
    for (let k = 0; k < 8; k++) {
      expect(w.selfBits(text), `call ${k}`).toBe(before.self);
      expect(w.cost(text).conditionalBits, `call ${k}`).toBe(before.cost);
    }
  });

  it('windows share nothing between calls: scoring in one does not change another\'s costs', () => {
    const a = windowWith([FOX, 'alpha beta gamma delta']);
    const b = windowWith(['lorem ipsum dolor sit amet', noise(5, 100)]);
    const text = `${FOX} ${noise(6, 30)} ${FOX}`;
    const alone = b.cost(text);
    for (let k = 0; k < 5; k++) a.cost(`${noise(7 + k, 50)}${noise(7 + k, 50)}`);
    expect(b.cost(text)).toEqual(alone);
  });

  it('scores alike however many characters it was given: positions are moved back, not stored past 2^31', () => {
    // Before, positions past 2^31 were stored wrapped in Int32Arrays: nothing in the window matched again
    // (a line seen 20 times scored a ratio of 1 instead of 0.04), some 2.4 hours into a stream of 1,000
    // events of 250 characters a second.
    const fresh = new LzWindow(1 << 12, 16, 8);
    const late = new LzWindow(1 << 12, 16, 8);
    // A window that has run that long has grown its arrays to its size; an empty one starts smaller.
    (late as unknown as { grow(chars: number): void }).grow(1 << 12);
    (late as unknown as { total: number }).total = 2 ** 31 - 3000;
    const rnd = mulberry32(9);
    const lines = ['GET /api/v1/users HTTP/1.1 200 1024 Mozilla/5.0', 'GET /api/v1/orders?page=2 HTTP/1.1 200 2048 curl/8.0', 'POST /login HTTP/1.1 302 0 Mozilla/5.0'];
    for (let k = 0; k < 400; k++) {
      const line = k % 7 === 0 ? `${lines[k % 3]!} ${noise(k, 12)}` : lines[Math.floor(rnd() * 3)]!;
      // Scored as the detector does (the exact-copy shortcut remembers what cost() saw), then appended.
      expect(late.cost(line).conditionalBits, `line ${k}`).toBe(fresh.cost(line).conditionalBits);
      fresh.append(line);
      late.append(line);
    }
    expect((late as unknown as { total: number }).total).toBeLessThanOrEqual(REBASE_AT);
    expect(late.cost(lines[0]!).ratio).toBeLessThan(0.1);
    expect(late.text()).toBe(fresh.text());
  });

  it('ranks near-duplicates of the baseline below unrelated text', () => {
    const lines = Array.from({ length: 50 }, (_, i) => `INFO: User logged in user_id=${i} from web`);
    const w = windowWith(lines);
    const near = w.cost('INFO: User logged in user_id=99 from app');
    const far = w.cost(noise(4, 40));
    expect(near.ratio).toBeLessThan(0.5);
    expect(far.ratio).toBeGreaterThan(0.9);
  });

  it('forgets text that has slid out of the window', () => {
    const w = new LzWindow(1 << 10);
    const old = noise(5, 60);
    w.append(old);
    expect(w.cost(old).ratio).toBeLessThan(0.2);
    // Push more than the window's size of other text through it.
    for (let i = 0; i < 40; i++) w.append(noise(100 + i, 40));
    expect(w.length).toBe(1 << 10);
    expect(w.cost(old).ratio).toBeGreaterThan(0.9);
  });

  it('does not change the window when scoring', () => {
    const w = windowWith([FOX]);
    const before = w.text();
    const text = noise(6, 50);
    const first = w.cost(text);
    expect(w.cost(text)).toEqual(first);
    expect(w.text()).toBe(before);
  });

  it('restores from its own text() without growing (no separator added per snapshot)', () => {
    const a = new LzWindow(1 << 12);
    a.append('GET /api/v1/users 200');
    a.append('GET /api/v1/orders 404');
    const b = new LzWindow(1 << 12);
    b.restore(a.text());
    const c = new LzWindow(1 << 12);
    c.restore(b.text());
    expect(c.text()).toBe(a.text());
    expect(c.cost('GET /api/v1/orders 404').ratio).toBeCloseTo(a.cost('GET /api/v1/orders 404').ratio, 6);
  });

  it('prices an exact copy of a recent text like the full parse does, without searching', () => {
    const line = 'INFO <num> request served in <num>ms for user <num> on /api/v<num>/orders';
    const fast = new LzWindow(1 << 12, 16, 64);
    const slow = new LzWindow(1 << 12);
    for (const w of [fast, slow]) {
      w.append('INFO startup complete');
      w.cost(line);
      w.append(line);
      w.append('WARN slow query on orders');
    }
    const a = fast.cost(line);
    const b = slow.cost(line);
    expect(a.literalRuns).toEqual([]);
    expect(a.selfBits).toBe(b.selfBits);
    expect(a.conditionalBits).toBeLessThanOrEqual(b.conditionalBits);
    expect(a.ratio).toBeLessThan(0.2);
    // Once the copy has slid out of the window, the shortcut no longer applies.
    for (let i = 0; i < 200; i++) fast.append(`filler line number ${i} with other words`);
    expect(fast.cost(line).ratio).toBeGreaterThan(a.ratio);
  });

  it('returns its text oldest first, each appended text followed by a newline', () => {
    const w = windowWith(['alpha', 'beta']);
    expect(w.text()).toBe('alpha\nbeta\n');
    expect(w.length).toBe(11);
    const small = new LzWindow(1 << 10);
    const long = noise(7, 1500);
    small.append(long);
    expect(small.text()).toBe(`${long}\n`.slice(-1024));
  });
});

describe('LzWindow arrays', () => {
  it('start small and grow to the window as text comes, keeping every match and the text', () => {
    const w = new LzWindow(1 << 16);
    const full = 2 * (1 << 16) + 4 * (1 << 16) + 4 * (1 << 16);
    // Empty, a 64K-character window holds 10 KB, not the 640 KB of its full arrays.
    expect(w.memoryBytes).toBeLessThan(16 * 1024);
    const lines = Array.from({ length: 900 }, (_, k) => `${k} ${noise(k, 40 + (k % 50))}`);
    let appended = '';
    for (let k = 0; k < lines.length; k++) {
      // Every earlier line still in the window is found whole, across each growth of the arrays.
      if (k > 0 && k % 37 === 0) expect(w.cost(lines[k - 1]!).ratio, `line ${k - 1} after ${k} lines`).toBeLessThan(0.15);
      w.append(lines[k]!);
      appended += `${lines[k]!}\n`;
      if (k % 50 === 0) expect(w.text()).toBe(appended.slice(-Math.min(appended.length, 1 << 16)));
    }
    expect(w.cost(lines[0]!).ratio).toBeLessThan(0.15);
    expect(w.memoryBytes).toBeGreaterThanOrEqual(full);
    // Once full it slides as before: the first line leaves after 64K more characters.
    for (let k = 0; k < 1200; k++) w.append(noise(10_000 + k, 60));
    expect(w.cost(lines[0]!).ratio).toBeGreaterThan(0.8);
    expect(w.text().length).toBe(1 << 16);
  });
});
