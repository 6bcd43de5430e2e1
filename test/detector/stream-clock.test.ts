import { describe, expect, it } from 'vitest';
import { StreamClock } from '../../src/detector/stream-clock.js';

const H = 3_600_000;
const S = Date.UTC(2025, 2, 1, 12);

describe('stream clock', () => {
  it('a late line stamped before a real step back is held out, and does not make the stepped clock a replay', () => {
    const clock = new StreamClock();
    for (let i = 0; i < 100; i++) expect(clock.map(S - 100_000 + i * 1000)).toBeDefined();
    // NTP steps the source's clock back an hour: taken at the second event.
    expect(clock.map(S - H)).toBeUndefined();
    for (let i = 1; i < 10; i++) expect(clock.map(S - H + i * 1000)).toBeDefined();
    // A line written 30 s before the step, sent after it (a log written at completion, a buffered writer).
    expect(clock.map(S - 30_000)).toBeUndefined();
    // The source's clock goes on stepped: its events are timed, continuous. Before, the late line was taken
    // for a return to the old timeline and the next 1,000 events were held out as a replay's.
    let before = clock.map(S - H + 10_000);
    expect(before).toBeDefined();
    for (let i = 11; i < 1200; i++) {
      const m = clock.map(S - H + i * 1000);
      expect(m, `event ${i}`).toBe(before! + 1000);
      before = m;
    }
  });

  it('a live line after a replayed one still returns to the live timeline', () => {
    const clock = new StreamClock();
    for (let i = 0; i < 100; i++) clock.map(S + i * 1000);
    clock.map(S - 4 * H);
    expect(clock.map(S - 4 * H + 10)).toBeDefined(); // two old lines: taken for a step
    expect(clock.map(S + 100_000)).toBe(S + 100_000); // live again: back, no gap
    expect(clock.map(S - 4 * H + 20)).toBeUndefined(); // the replay's lines are held out
    expect(clock.map(S + 101_000)).toBe(S + 101_000);
  });
});
