import { describe, expect, it } from 'vitest';
import { RepeatFolder } from '../../src/cli/repeat-folder.js';
import type { AlertAnomaly } from '../../src/outputs/delivery/alert.js';

const slow = (why = 'response_time 5 is 97x its typical 0.051'): AlertAnomaly => ({ kind: 'field_value', confidence: 0.999, why, stream_id: 'nginx', field: 'response_time', template: 'GET <*>' });
const error: AlertAnomaly = { kind: 'new_pattern', confidence: 0.99, why: 'new error pattern', stream_id: 'nginx', template: 'ERROR <*>' };

describe('RepeatFolder (stream on a terminal)', () => {
  it('shows the first alert of an incident, folds its repeats into a line a window, and ends an incident after a window without any', () => {
    const f = new RepeatFolder(10_000);
    expect(f.show(slow(), 0)).toBe(true);
    expect(f.show(error, 0)).toBe(true);
    for (let t = 1; t <= 500; t++) expect(f.show(slow(`latest ${t}`), t * 10)).toBe(false);
    expect(f.due(9_999)).toEqual([]);
    // The window ends: one line for the slow responses, which came over 5 s (the line said the window's
    // 10 s); the error had no repeat, its incident is over.
    expect(f.due(10_000)).toEqual([{ anomaly: slow('latest 500'), repeats: 500, total: 501, seconds: 5 }]);
    expect(f.show(error, 10_001)).toBe(true);
    // Still the same incident of slow responses: folded, counted from the new window.
    expect(f.show(slow('later'), 12_000)).toBe(false);
    expect(f.due(20_000)).toEqual([{ anomaly: slow('later'), repeats: 1, total: 502, seconds: 2 }]);
    // A window without repeats ends it: the next slow response is shown again.
    expect(f.due(30_000)).toEqual([]);
    expect(f.show(slow(), 30_001)).toBe(true);
  });

  it('says what is left at the end of input, and folds nothing with a window of 0', () => {
    const f = new RepeatFolder(10_000);
    f.show(slow(), 0);
    f.show(slow('second'), 100);
    expect(f.due(2_000, true)).toEqual([{ anomaly: slow('second'), repeats: 1, total: 2, seconds: 0.1 }]);
    expect(f.due(3_000, true)).toEqual([]);
    const none = new RepeatFolder(0);
    expect([none.show(slow(), 0), none.show(slow(), 1), none.show(slow(), 2)]).toEqual([true, true, true]);
    expect(none.due(100_000, true)).toEqual([]);
  });

  it('ends every window when the clock goes back (a log\'s time), and is asked cheaply when nothing is due', () => {
    const f = new RepeatFolder(10_000);
    f.show(slow(), 50_000);
    f.show(slow('again'), 51_000);
    expect(f.due(55_000)).toEqual([]);
    expect(f.due(40_000)).toEqual([{ anomaly: slow('again'), repeats: 1, total: 2, seconds: 1 }]);
  });

  it('follows at most 1,000 incidents at once: beyond, alerts are shown in full', () => {
    const f = new RepeatFolder(10_000);
    for (let k = 0; k < 1000; k++) expect(f.show({ ...error, template: `ERROR ${k}` }, 0)).toBe(true);
    expect(f.show({ ...error, template: 'ERROR 1000' }, 1)).toBe(true);
    expect(f.show({ ...error, template: 'ERROR 1000' }, 2)).toBe(true);
    expect(f.show({ ...error, template: 'ERROR 999' }, 3)).toBe(false);
  });
});
