import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { FailureReport } from '../../src/engine/failure-report.js';
import { ComponentMetrics } from '../../src/engine/metrics.js';

function reporting() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  const metrics = new ComponentMetrics('c', 'output', 'file');
  const health: string[] = [];
  let now = 0;
  const report = new FailureReport(
    { logger, metrics, health: { failing: (r) => health.push(`failing: ${r}`), ok: () => health.push('ok') } },
    { what: 'cannot write x', recovered: 'x can be written again', remindMs: 60_000, now: () => now },
  );
  return { lines, metrics, health, report, advance: (ms: number) => (now += ms) };
}

describe('FailureReport', () => {
  it('says a failure once, counts every one, reminds at most every remindMs, and says the recovery once', () => {
    const { lines, metrics, health, report, advance } = reporting();
    const err = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    for (let i = 0; i < 50; i++) {
      report.failed(err);
      advance(1000);
    }
    expect(metrics.get('errors_total')).toBe(50);
    expect(lines.map((l) => l.msg)).toEqual([expect.stringMatching(/^cannot write x; retrying/)]);
    expect(health).toEqual(['failing: cannot write x: ENOSPC: no space left on device']);
    expect(report.failing).toBe(true);
    advance(10_000); // a minute since the first line
    report.failed(err);
    expect(lines.at(-1)).toMatchObject({ msg: 'cannot write x; still failing, retrying', failures: 51, unsaid: 49, failing_for_ms: 60_000 });
    report.succeeded();
    report.succeeded();
    expect(lines.filter((l) => l.msg === 'x can be written again')).toEqual([expect.objectContaining({ failures: 51 })]);
    expect(health.at(-1)).toBe('ok');
    expect(report.failing).toBe(false);
    // A new failure later is said at once.
    report.failed(err);
    expect(lines.at(-1)!.msg).toMatch(/^cannot write x; retrying/);
  });
});
