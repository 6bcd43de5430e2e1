import { describe, expect, it } from 'vitest';
import { renderAlertText, truncate } from '../../src/outputs/alert-format.js';

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

describe('alert text for terminals', () => {
  it('cuts a long entry before an emoji rather than through it, and counts what it left out', () => {
    // 299 characters, then an emoji (two UTF-16 units) across the 300th: the old cut kept its first half.
    const entry = `${'x'.repeat(299)}😀 and more`;
    const cut = truncate(entry, 300);
    expect(LONE_SURROGATE.test(cut)).toBe(false);
    expect(cut).toBe(`${'x'.repeat(299)}… (${entry.length - 299} more characters)`);
    // Not at a surrogate: the cut is where it was.
    expect(truncate('abcdef', 3)).toBe('abc… (3 more characters)');
    expect(truncate('abc', 3)).toBe('abc');
  });

  it('renders an alert whose entry is cut at an emoji with no half character', () => {
    const text = renderAlertText({
      anomaly: { kind: 'content', score: 3, confidence: 0.999, why: 'new text "😀"', stream_id: 'app', template: 't' },
      entry: `${'y'.repeat(299)}😀😀😀`,
    }, false);
    expect(LONE_SURROGATE.test(text)).toBe(false);
    expect(text).toContain(`${'y'.repeat(299)}… (`);
  });
});
