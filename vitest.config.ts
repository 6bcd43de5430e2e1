import os from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two test files at a time at least. Vitest's default is one fewer than the cores: one worker on CI's
    // 2 cores, where the files then ran one after the other while the CPU was mostly idle (the suite mostly
    // waits on daemons, sockets and timers: 6.8 CPU-minutes in a 14.9-minute run).
    maxWorkers: Math.max(2, os.availableParallelism() - 1),
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
