import { describe, expect, it } from 'vitest';
import { renderAlertText } from '../../src/outputs/alert-format.js';
import { truncate } from '../../src/printable.js';

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

  it('renders a stream back after a silence as a check mark and its why, without an entry or a confidence', () => {
    const why = 'stream nginx-logs back: events again after 4.2 min of silence (its last event before was at 2026-11-25T16:31:11.701Z)';
    const text = renderAlertText({
      anomaly: { kind: 'volume_drop', score: 0, confidence: 0.97, why, stream_id: 'nginx-logs', template: '', resolved: true },
      entry: why,
      time: Date.parse('2026-11-25T16:35:23.000Z'),
    }, false);
    expect(text).toBe(`✔ back  nginx-logs  2026-11-25 16:35:23Z\n  ${why}\n`);
  });
});
