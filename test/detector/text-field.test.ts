import { percentDecode } from '../../src/detector/event-text.js';
import { describe, it, expect } from 'vitest';
import { maskVolatile } from '../../src/detector/index.js';
import { TextFieldBaseline, shapeOf } from '../../src/detector/text-field.js';
import { MANY_USER_AGENTS, SQL_INJECTION, mulberry32, pick } from './baseline.js';

function trained(values: readonly string[], n = 2000, seed = 21): TextFieldBaseline {
  const rnd = mulberry32(seed);
  const b = new TextFieldBaseline(1 << 14);
  for (let i = 0; i < n; i++) b.learn(maskVolatile(pick(rnd, values)));
  return b;
}

describe('shapeOf', () => {
  it('turns runs of letters and digits into `a` and whitespace runs into one space', () => {
    expect(shapeOf('Mozilla/5.0 (X11; Linux)')).toBe('a/a.a (a; a)');
    expect(shapeOf('a   b\tc')).toBe('a a a');
    expect(shapeOf("' OR '1'='1")).toBe("' a 'a'='a");
    expect(shapeOf('snake_case and \uE004 masks')).toBe('a a a a');
  });
});

describe('TextFieldBaseline', () => {
  it('scores a value seen recently as 0 at once', () => {
    const b = trained(MANY_USER_AGENTS);
    const v = b.score(maskVolatile(MANY_USER_AGENTS[3]!));
    expect(v).toEqual({ score: 0, ratio: 0, newSyntax: [], literalRuns: [] });
  });

  it('scores a new value in the usual syntax as 0 (new words alone are not enough)', () => {
    const b = trained(MANY_USER_AGENTS);
    const v = b.score(maskVolatile('Mozilla/5.0 (X11; Fedora; Linux x86_64) Gecko/20100101 Firefox/126.0'));
    expect(v.newSyntax).toEqual([]);
    expect(v.score).toBe(0);
  });

  it('scores injected code by its new syntax times its compression distance, and quotes it', () => {
    const b = trained(MANY_USER_AGENTS);
    const masked = maskVolatile(SQL_INJECTION);
    const v = b.score(masked);
    expect(v.newSyntax.length).toBeGreaterThan(2);
    expect(v.newSyntax).toContain("^' ");
    expect(v.ratio).toBeGreaterThan(0.8);
    const weight = Math.sqrt(25 / shapeOf(masked).length);
    expect(v.score).toBeCloseTo(v.ratio * v.newSyntax.length * weight, 10);
    expect(v.score).toBeGreaterThan(2); // above the balanced profile's field floor
    const [s, e] = v.literalRuns[0]!;
    expect(masked.slice(s, e)).toContain('UNION SELECT');
  });

  it('weighs new syntax by the square root of the shape length: the same novelty in a longer value scores less', () => {
    const b = new TextFieldBaseline(1 << 13);
    for (const page of ['about', 'home', 'blog', 'news', 'faq']) {
      for (const lang of ['en', 'de', 'fr']) b.learn(maskVolatile(`page=${page}&lang=${lang}`));
    }
    const short = maskVolatile('page=|id');
    const long = maskVolatile('lang=en&lang=de&lang=fr&lang=en&lang=de&lang=fr&page=|id');
    const s = b.score(short);
    const l = b.score(long);
    // Both bring as many new trigrams (around the "|"): only the short value is mostly made of them.
    expect(l.newSyntax.length).toBe(s.newSyntax.length);
    expect(s.score).toBeGreaterThan(2);
    expect(l.score).toBeLessThan(s.score / 2);
  });

  it('learns a value: afterwards it scores 0', () => {
    const b = trained(MANY_USER_AGENTS);
    const masked = maskVolatile(SQL_INJECTION);
    expect(b.score(masked).score).toBeGreaterThan(0);
    b.learn(masked);
    expect(b.score(masked).score).toBe(0);
  });

  it('lets a new form that keeps coming back become normal through learnSyntax, slowly', () => {
    const b = trained(MANY_USER_AGENTS);
    const masked = maskVolatile(SQL_INJECTION);
    const first = b.score(masked).newSyntax.length;
    // A gram counts as known from a weight of 2: ten flagged sightings at 0.1 are not enough...
    for (let i = 0; i < 10; i++) b.learnSyntax(masked, 0.1);
    expect(b.score(masked).newSyntax.length).toBe(first);
    // ...twenty more are.
    for (let i = 0; i < 20; i++) b.learnSyntax(masked, 0.1);
    expect(b.score(masked).newSyntax).toEqual([]);
    expect(b.score(masked).score).toBe(0);
  });

  it('remembers recent values up to a number of characters, not only a number of values (kilobyte values)', () => {
    const b = new TextFieldBaseline(1 << 13);
    const rnd = mulberry32(4);
    const value = (i: number) => `${i}:${Array.from({ length: 100 }, () => Math.floor(rnd() * 1e9).toString(36)).join('/')}`.slice(0, 1000);
    for (let i = 0; i < 600; i++) b.learn(value(i));
    const recent = b.toJSON().recent;
    expect(recent.reduce((n, v) => n + v.length, 0)).toBeLessThanOrEqual(32_768);
    // The latest are the ones kept: the newest value scores 0 at once.
    expect(recent.length).toBeGreaterThan(20);
    expect(b.score(recent.at(-1)!).score).toBe(0);
  });

  it('round-trips through JSON', () => {
    const b = trained(MANY_USER_AGENTS, 500);
    const restored = TextFieldBaseline.fromJSON(JSON.parse(JSON.stringify(b.toJSON())) as ReturnType<TextFieldBaseline['toJSON']>, 1 << 14);
    for (const text of [SQL_INJECTION, MANY_USER_AGENTS[0]!, '<script>alert(1)</script>', 'Mozilla/5.0 (Haiku) Gecko/20100101 Firefox/99.0']) {
      const masked = maskVolatile(text);
      expect(restored.score(masked)).toEqual(b.score(masked));
    }
  });

  it('restores an old snapshot that kept only the window text', () => {
    const b = trained(MANY_USER_AGENTS, 500);
    const restored = TextFieldBaseline.fromJSON(b.window.text(), 1 << 14);
    expect(restored.window.text().startsWith(b.window.text())).toBe(true);
    // No syntax learned: everything is new syntax, but text from the window compresses well.
    const v = restored.score(maskVolatile(MANY_USER_AGENTS[0]!));
    expect(v.newSyntax.length).toBeGreaterThan(0);
    expect(v.ratio).toBeLessThan(0.3);
  });
});

describe('percentDecode', () => {
  it('undoes URL escapes, keeps stray percent signs, and survives invalid UTF-8', () => {
    expect(percentDecode('/?page=admin%22%20or%201=1%23')).toBe('/?page=admin" or 1=1#');
    expect(percentDecode('100% sure %zz')).toBe('100% sure %zz');
    expect(percentDecode('caf%C3%A9')).toBe('café');
    expect(percentDecode('%FF%27x')).toBe("\u00ff'x");
  });
});
