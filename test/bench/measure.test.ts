import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { processCpu, reapedCpuSince } from '../../bench/measure.js';

/** A node child that uses 0.3 s of CPU, says so, then sleeps `sleepMs` before exiting. */
function burnThenSleep(sleepMs: number) {
  const code = `const t = process.cpuUsage();
for (;;) { const u = process.cpuUsage(t); if (u.user + u.system >= 300000) break; }
console.log('burnt');
setTimeout(() => {}, ${sleepMs});`;
  return spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
}

describe('bench CPU time', () => {
  it("reapedCpuSince: a child's CPU seconds up to its exit, not its wall-clock time", async () => {
    const cpu = reapedCpuSince();
    const started = performance.now();
    const child = burnThenSleep(1500);
    await once(child, 'exit');
    const wall = (performance.now() - started) / 1000;
    const seconds = cpu();
    expect(seconds).toBeGreaterThanOrEqual(0.3);
    // Node's start-up adds a little CPU; the 1.5 s asleep adds none.
    expect(seconds!).toBeLessThan(wall - 1);
  });

  it('processCpu: what a running child has used so far, no more than it used by its exit', async () => {
    const cpu = reapedCpuSince();
    const child = burnThenSleep(500);
    await once(child.stdout!, 'data');
    const sofar = processCpu(child.pid!);
    await once(child, 'exit');
    expect(sofar).toBeGreaterThanOrEqual(0.3);
    expect(sofar!).toBeLessThanOrEqual(cpu()!);
  });
});
