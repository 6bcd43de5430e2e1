/** How a long pattern is quoted in a why: cut in the middle, between words where one is near. */
import { describe, expect, it } from 'vitest';
import { quotePattern } from '../../src/detector/wording.js';

describe('quotePattern', () => {
  it('cuts a long message between words, keeping its start and its end', () => {
    const text = 'Database connection pool exhausted while executing query for tenant accounts; the primary replica failed: timeout after 30000 ms';
    const quoted = JSON.parse(quotePattern(text, 80)) as string;
    expect(quoted.length).toBeLessThanOrEqual(80);
    // Before: "Database connection pool…ailed: timeout after 30000 ms", a word cut in two on each side.
    const [start, end] = quoted.split('…') as [string, string];
    expect(text.startsWith(start)).toBe(true);
    expect(text.endsWith(end)).toBe(true);
    expect(start.endsWith(' ')).toBe(true);
    expect(text[text.length - end.length - 1]).toBe(' ');
  });

  it('leaves a short message whole, and a long word without spaces cut where it must be', () => {
    expect(JSON.parse(quotePattern('Database failed: timeout', 80))).toBe('Database failed: timeout');
    const word = 'x'.repeat(200);
    const quoted = JSON.parse(quotePattern(word, 80)) as string;
    expect(quoted).toBe(`${'x'.repeat(24)}…${'x'.repeat(55)}`);
  });
});
