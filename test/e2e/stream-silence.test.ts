/**
 * `driftlock stream` tells a silent stream while it lasts: `tail -f app.log | driftlock stream` when the
 * service stops logging, with standard input still open (before, only a next line could have told it).
 */
import { describe, expect, it } from 'vitest';
import { startCli } from '../helpers/cli.js';

/** 40 s of a stream at 20 lines/s, stamped from `end` - 40 s to `end`. */
function recentLines(end: number): string {
  const lines: string[] = [];
  for (let i = 0; i < 800; i++) lines.push(JSON.stringify({ time: new Date(end - 40_000 + i * 50).toISOString(), msg: 'GET /api/items 200', user: `u${i % 50}` }));
  return lines.join('\n') + '\n';
}

describe('driftlock stream: a silent stream', () => {
  it('prints one volume_drop while standard input is open and silent, with no line number; not for lines of last week', async () => {
    const cli = startCli(['stream', '--format', 'json', '--stream-id', '{body.svc}', '--min-silence', '5s', '-q']);
    const now = Date.now();
    const live = recentLines(now).replace(/"msg"/g, '"svc":"live","msg"');
    const old = recentLines(now - 7 * 86_400_000).replace(/"msg"/g, '"svc":"old","msg"');
    cli.child.stdin!.write(old + live);
    // The rule: 5 s asked, and a confidence of at least 0.9 in the balanced profile: at 20/s, 5 s is 100
    // events missing, 0.99 (a stream of 1/s would wait 9 s for 0.9).
    await cli.waitFor(/"kind":"volume_drop"/, 'stdout', 20_000);
    const reportedAt = Date.now() - now;
    // Two more checks go by: the same silence is not told twice.
    await new Promise((r) => setTimeout(r, 2500));
    // The service logs again: said once, at its first line.
    cli.child.stdin!.write(recentLines(Date.now()).split('\n').slice(-3).join('\n').replace(/"msg"/g, '"svc":"live","msg"'));
    await cli.waitFor(/"resolved":true/, 'stdout', 10_000);
    cli.child.stdin!.end();
    const result = await cli.exited;
    expect(result.code, result.stderr).toBe(0);
    const alerts = result.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const drops = alerts.filter((a) => a['kind'] === 'volume_drop');
    expect(drops.filter((a) => !a['resolved'])).toHaveLength(1);
    const back = drops.filter((a) => a['resolved'] === true);
    expect(back).toHaveLength(1);
    expect(back[0]).toMatchObject({ stream_id: 'live', line: 1601, why: expect.stringMatching(/^stream live back: events again after \d+ s of silence/) });
    expect(drops[0]).toMatchObject({ stream_id: 'live', entry: expect.stringMatching(/^stream live silent: no events for \d+ s vs typical 20\/s$/) });
    expect(drops[0]!['why']).toMatch(/still silent/);
    expect(drops[0]).not.toHaveProperty('line');
    expect(reportedAt).toBeGreaterThanOrEqual(5_000);
    // Last week's stream, read in the same write, was never live: not told silent.
    expect(alerts.some((a) => a['stream_id'] === 'old' && a['kind'] === 'volume_drop')).toBe(false);
  }, 40_000);
});
