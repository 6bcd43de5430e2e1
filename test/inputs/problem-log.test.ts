import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ProblemLog } from '../../src/inputs/net/problems.js';

function capture(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'warn' }, sink), lines };
}

describe('ProblemLog', () => {
  it('logs the first of a kind at once, sums the rest, and writes the sums when the input stops', async () => {
    const { logger, lines } = capture();
    const stop = new AbortController();
    const problems = new ProblemLog(logger, stop.signal);
    for (let i = 0; i < 5; i++) problems.report('garbage', 'garbage on the socket', { peer: `10.0.0.${i}:1` });
    problems.report('too_big', 'frame too large', { peer: '10.0.0.9:1' });
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => [l.problem, l.occurrences])).toEqual([['garbage', undefined], ['too_big', undefined]]);
    stop.abort();
    await new Promise((r) => setImmediate(r));
    expect(lines.at(-1)).toMatchObject({ problem: 'garbage', occurrences: 4, peer: '10.0.0.4:1' });
    expect(String(lines.at(-1)!.msg)).toMatch(/^garbage on the socket \(4 times in the last \d+ s\)$/);
    expect(problems.total('garbage')).toBe(5);
  });
});
