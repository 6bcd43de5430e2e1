/** Progress lines cut to the terminal's width, counted in columns, not characters. */
import { describe, expect, it } from 'vitest';
import { fitStatus } from '../../src/cli/detect.js';

/** Columns on a terminal: CJK ideographs take two. */
const columns = (t: string) => [...t].reduce((n, ch) => n + (/[\u4e00-\u9fff]/.test(ch) ? 2 : 1), 0);

describe('fitStatus', () => {
  const keep = ' ████████████░░░░░░░░░░░░ 50%  12,000 events, 3 anomalies';

  it('fits a file name in Chinese to the width in columns (a wide character takes two)', () => {
    const line = fitStatus(80, '应用服务器访问日志-二零二五年一月一日-生产环境-节点三.log', keep);
    // Before: 74 characters, but 94 columns: the line wrapped, and each redraw left a row behind.
    expect(columns(line)).toBeLessThanOrEqual(79);
    expect(line.startsWith('…')).toBe(true);
    expect(line.endsWith(`节点三.log${keep}`)).toBe(true);
  });

  it('leaves a line that fits, and cuts ASCII as before', () => {
    expect(fitStatus(200, 'app.log', keep)).toBe(`app.log${keep}`);
    const line = fitStatus(80, 'a-rather-long-name-of-a-rotated-application-log-2025-01-01.log', keep);
    expect([...line].length).toBe(79);
    expect(line.endsWith(`-2025-01-01.log${keep}`)).toBe(true);
    // Too narrow for the counts: the whole line cut, with a marker, within the width.
    expect(columns(fitStatus(20, '日志.log', keep))).toBeLessThanOrEqual(19);
  });

  it("stream's status line keeps its start (the event count) when cut, not its end", () => {
    const status = 'events 1,234,567 (56,789/s), anomalies 3, streams 1';
    const line = fitStatus(30, '', status);
    expect(columns(line)).toBeLessThanOrEqual(29);
    expect(line.startsWith('events 1,234,567')).toBe(true);
    expect(line.endsWith('…')).toBe(true);
  });

  it('cuts between whole emoji, counting a family of three (five code points) as the two columns it shows', () => {
    const family = '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}';
    const line = fitStatus(21, `${family.repeat(30)}.log`, '');
    // 20 columns: the `…`, `.log`, and seven whole families of two columns each (15 would need 30).
    expect(line).toBe(`…${family.repeat(7)}.log`);
  });
});
